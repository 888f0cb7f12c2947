-- fraudit analytical store. Applied once, in file order, inside one transaction per file.

-- One row per scored event. event_id is the idempotency key: a replayed record inserts
-- nothing (INSERT ... ON CONFLICT (event_id) DO NOTHING).
CREATE TABLE fraud_predictions (
    event_id                text PRIMARY KEY,
    schema_version          integer NOT NULL,
    event_time              timestamptz NOT NULL,   -- the transaction's timestamp (UTC)
    scored_at               timestamptz NOT NULL,
    event_minute            timestamptz NOT NULL,   -- event_time truncated to the minute
    user_id                 text NOT NULL,
    source                  text NOT NULL,
    amount                  numeric(14, 2) NOT NULL CHECK (amount >= 0),
    fraud_prediction        smallint NOT NULL CHECK (fraud_prediction IN (0, 1)),
    fraud_proba             double precision NOT NULL CHECK (fraud_proba BETWEEN 0 AND 1),
    anomaly_score           double precision NOT NULL,
    decision                text NOT NULL CHECK (decision IN ('approve', 'review', 'decline')),
    model_version           text NOT NULL,
    policy_version          text NOT NULL,
    ip_address              text,                   -- text: one bad value must not fail a batch
    device_type             text,
    os_version              text,
    app_version             text,
    country                 char(2),
    region                  text,
    city                    text,
    latitude                double precision,
    longitude               double precision,
    payload                 jsonb NOT NULL,         -- the record as received
    payload_hash            text NOT NULL,          -- sha256 of the raw record
    source_position         text NOT NULL,          -- shard:sequence the record came from
    processed_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fraud_predictions_event_time_idx ON fraud_predictions (event_time);
CREATE INDEX fraud_predictions_user_time_idx ON fraud_predictions (user_id, event_time);
CREATE INDEX fraud_predictions_decision_time_idx ON fraud_predictions (decision, event_time);
CREATE INDEX fraud_predictions_processed_at_idx ON fraud_predictions (processed_at);

-- Records that could not be loaded, with why. One row per source record: a replay of the
-- same record adds nothing (source_position is unique).
CREATE TABLE fraud_predictions_rejected (
    id                      bigserial PRIMARY KEY,
    source_position         text NOT NULL UNIQUE,
    event_id                text,
    reason                  text NOT NULL,
    raw_payload             text NOT NULL,
    rejected_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fraud_predictions_rejected_at_idx ON fraud_predictions_rejected (rejected_at);

-- Alerts raised by the windowed indicator rules, once per (rule, entity, window).
CREATE TABLE fraud_alerts (
    rule                    text NOT NULL,
    entity_type             text NOT NULL,
    entity                  text NOT NULL,
    window_start            timestamptz NOT NULL,
    window_end              timestamptz NOT NULL,
    value                   double precision NOT NULL,
    threshold               double precision NOT NULL,
    raised_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule, entity, window_start)
);
CREATE INDEX fraud_alerts_raised_at_idx ON fraud_alerts (raised_at);

-- Per-minute rollups for the dashboard, maintained in the same transaction as the rows
-- they count and only from rows actually inserted: they always equal a GROUP BY over
-- fraud_predictions. Sums are numeric so that equality is exact.
CREATE TABLE fraud_minute_rollups (
    minute                  timestamptz NOT NULL,
    source                  text NOT NULL,
    country                 text NOT NULL,          -- '' when unknown
    decision                text NOT NULL,
    transactions            bigint NOT NULL,
    predicted_frauds        bigint NOT NULL,
    amount_sum              numeric NOT NULL,
    fraud_proba_sum         numeric NOT NULL,
    PRIMARY KEY (minute, source, country, decision)
);
