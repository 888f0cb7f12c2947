-- Labels (docs/LABELS.md): what each source reported about a decision's transaction, weeks
-- later. Append-only: a label is never changed (a correction is a newer label, and the
-- precedence in fraudit.labels.contract decides which one counts); rows leave only by the
-- retention or an erasure. `label_id` is a digest of the label, so a label sent or imported
-- twice is stored once. No foreign key to fraud_predictions: a label may arrive before its
-- event is loaded, or name an event fraudit never saw; it is kept and reported.
CREATE TABLE fraud_labels (
    label_id        text PRIMARY KEY,
    event_id        text NOT NULL,
    label           text NOT NULL CHECK (label IN ('fraud', 'genuine')),
    source          text NOT NULL
                    CHECK (source IN ('chargeback', 'early_fraud_warning', 'manual', 'review')),
    reported_at     timestamptz NOT NULL,
    occurred_at     timestamptz,
    reason_code     text,
    amount          numeric(14, 2) CHECK (amount >= 0),
    received_at     timestamptz NOT NULL DEFAULT now(),
    received_by     text NOT NULL,
    CHECK (label = 'fraud' OR occurred_at IS NULL)
);
CREATE INDEX fraud_labels_event_idx ON fraud_labels (event_id, reported_at);
CREATE INDEX fraud_labels_reported_idx ON fraud_labels (reported_at);

CREATE FUNCTION fraud_labels_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'fraud_labels is append-only: report a newer label instead';
END $$;
CREATE TRIGGER fraud_labels_no_update BEFORE UPDATE ON fraud_labels
    FOR EACH ROW EXECUTE FUNCTION fraud_labels_append_only();

-- Backtests (docs/BACKTESTS.md): each run's candidate, period, as-of date and figures, so
-- the dashboard shows a run as it was computed.
CREATE TABLE fraud_backtest_runs (
    run_id          text PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    candidate       jsonb NOT NULL,
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL,
    as_of           timestamptz NOT NULL,
    maturity_days   integer NOT NULL CHECK (maturity_days >= 0),
    review_capacity integer NOT NULL CHECK (review_capacity >= 1),
    decisions       bigint NOT NULL,
    report          jsonb NOT NULL,
    CHECK (period_start < period_end)
);
