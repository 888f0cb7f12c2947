"""The loader's SQL, pure text. Column order here is the order rows are copied in."""

from __future__ import annotations

PREDICTION_COLUMNS: tuple[str, ...] = (
    "event_id", "schema_version", "event_time", "scored_at", "event_minute", "user_id",
    "source", "amount", "fraud_prediction", "fraud_proba", "anomaly_score", "decision",
    "model_version", "policy_version", "ip_address", "device_id", "device_type", "os_version",
    "app_version", "country", "region", "city", "latitude", "longitude", "payload",
    "payload_hash", "source_position",
)
REJECTED_COLUMNS: tuple[str, ...] = ("source_position", "event_id", "reason", "raw_payload")
CONFLICT_REASON = "event_id already recorded with a different payload"

_cols = ", ".join(PREDICTION_COLUMNS)

CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS fraudit_staging
    (LIKE fraud_predictions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS fraudit_staging_rejected
    (LIKE fraud_predictions_rejected INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
-- The rows this transaction inserted: the windowed indicators re-measure what they touch.
CREATE TEMP TABLE IF NOT EXISTS fraudit_batch_inserted (
    event_time timestamptz NOT NULL, scored_at timestamptz NOT NULL, user_id text NOT NULL,
    ip_address text, device_id text) ON COMMIT DELETE ROWS;
"""
COPY_STAGING = f"COPY fraudit_staging ({_cols}) FROM STDIN"
COPY_STAGING_REJECTED = (f"COPY fraudit_staging_rejected ({', '.join(REJECTED_COLUMNS)}) "
                         "FROM STDIN")

# Every statement here is assembled from the constant column tuples above, never from
# data: rows travel only through COPY (hence the S608 exemption in pyproject.toml).
# Insert what is new and roll up exactly those rows, in one statement: a replayed batch
# inserts nothing and so adds nothing to the rollups.
INSERT_AND_ROLL_UP = f"""
WITH inserted AS (
    INSERT INTO fraud_predictions ({_cols})
    SELECT {_cols} FROM fraudit_staging ORDER BY source_position
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_minute, source, country, decision, fraud_prediction, amount, fraud_proba,
              event_time, scored_at, user_id, ip_address, device_id
), noted AS (
    INSERT INTO fraudit_batch_inserted (event_time, scored_at, user_id, ip_address, device_id)
    SELECT event_time, scored_at, user_id, ip_address, device_id FROM inserted
), rolled AS (
    INSERT INTO fraud_minute_rollups AS r (minute, source, country, decision, transactions,
                                          predicted_frauds, amount_sum, fraud_proba_sum)
    SELECT event_minute, source, coalesce(country, ''), decision, count(*),
           sum(fraud_prediction), sum(amount), sum(fraud_proba::numeric)
    FROM inserted GROUP BY 1, 2, 3, 4
    ON CONFLICT (minute, source, country, decision) DO UPDATE SET
        transactions = r.transactions + EXCLUDED.transactions,
        predicted_frauds = r.predicted_frauds + EXCLUDED.predicted_frauds,
        amount_sum = r.amount_sum + EXCLUDED.amount_sum,
        fraud_proba_sum = r.fraud_proba_sum + EXCLUDED.fraud_proba_sum
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM rolled)
"""

# An event_id seen before with other content is kept, with the reason, not dropped.
REJECT_CONFLICTS = f"""
INSERT INTO fraud_predictions_rejected (source_position, event_id, reason, raw_payload)
SELECT s.source_position, s.event_id, '{CONFLICT_REASON}', s.payload::text
FROM fraudit_staging s JOIN fraud_predictions p ON p.event_id = s.event_id
WHERE p.payload_hash <> s.payload_hash
ON CONFLICT (source_position) DO NOTHING
"""

INSERT_REJECTED = f"""
INSERT INTO fraud_predictions_rejected ({", ".join(REJECTED_COLUMNS)})
SELECT {", ".join(REJECTED_COLUMNS)} FROM fraudit_staging_rejected
ON CONFLICT (source_position) DO NOTHING
"""
