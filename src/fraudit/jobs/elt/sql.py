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
-- The rows this transaction inserted: the rollups and indicators are computed from them.
CREATE TEMP TABLE IF NOT EXISTS fraudit_batch_inserted (
    event_time timestamptz NOT NULL, scored_at timestamptz NOT NULL, user_id text NOT NULL,
    ip_address text, device_id text, event_minute timestamptz NOT NULL, source text NOT NULL,
    country char(2), decision text NOT NULL, fraud_prediction smallint NOT NULL,
    amount numeric(14, 2) NOT NULL, fraud_proba double precision NOT NULL,
    latitude double precision, longitude double precision
) ON COMMIT DELETE ROWS;
"""
COPY_STAGING = f"COPY fraudit_staging ({_cols}) FROM STDIN"
COPY_STAGING_REJECTED = (f"COPY fraudit_staging_rejected ({', '.join(REJECTED_COLUMNS)}) "
                         "FROM STDIN")

# Every statement here is assembled from the constant column tuples above, never from
# data: rows travel only through COPY or as parameters (hence the S608 exemption).
NOTED_COLUMNS = ("event_time, scored_at, user_id, ip_address, device_id, event_minute, "
                 "source, country, decision, fraud_prediction, amount, fraud_proba, "
                 "latitude, longitude")

# The fast path: every row of the batch is new (the usual case), so they are copied
# straight into the table; a duplicate event_id makes the COPY fail and the batch takes
# the staging path below instead.
COPY_PREDICTIONS = f"COPY fraud_predictions ({_cols}) FROM STDIN"
NOTE_COPIED = f"""
INSERT INTO fraudit_batch_inserted ({NOTED_COLUMNS})
SELECT {NOTED_COLUMNS} FROM fraud_predictions WHERE event_id = ANY(%(ids)s)
"""

# The staging path: insert what is new and note exactly those rows, in one statement; a
# replayed batch inserts and notes nothing.
INSERT_FROM_STAGING = f"""
WITH inserted AS (
    INSERT INTO fraud_predictions ({_cols})
    SELECT {_cols} FROM fraudit_staging ORDER BY source_position
    ON CONFLICT (event_id) DO NOTHING
    RETURNING {NOTED_COLUMNS}
), noted AS (
    INSERT INTO fraudit_batch_inserted ({NOTED_COLUMNS})
    SELECT {NOTED_COLUMNS} FROM inserted
)
SELECT count(*) FROM inserted
"""

# (time column, its value from an inserted row, the three tables) per grain.
ROLLUP_GRAINS = {
    "minute": ("minute", "event_minute",
               ("fraud_minute_rollups", "fraud_score_rollups", "fraud_geo_rollups")),
    "hour": ("hour", "date_trunc('hour', event_minute)",
             ("fraud_hour_rollups", "fraud_score_hour_rollups", "fraud_geo_hour_rollups")),
}


def _roll_up(grain: str) -> str:
    """The three rollups' upserts at one grain, from the rows this transaction inserted
    (fraudit_batch_inserted)."""
    key, at, (counts, scores, places) = ROLLUP_GRAINS[grain]
    return f"""
INSERT INTO {counts} AS r
    ({key}, source, country, decision, transactions, predicted_frauds, amount_sum,
     fraud_proba_sum)
SELECT {at}, source, coalesce(country, ''), decision, count(*), sum(fraud_prediction),
       sum(amount), sum(fraud_proba::numeric)
FROM fraudit_batch_inserted GROUP BY 1, 2, 3, 4
ON CONFLICT ({key}, source, country, decision) DO UPDATE SET
    transactions = r.transactions + EXCLUDED.transactions,
    predicted_frauds = r.predicted_frauds + EXCLUDED.predicted_frauds,
    amount_sum = r.amount_sum + EXCLUDED.amount_sum,
    fraud_proba_sum = r.fraud_proba_sum + EXCLUDED.fraud_proba_sum;
INSERT INTO {scores} AS r
    ({key}, source, country, decision, bucket, transactions)
SELECT {at}, source, coalesce(country, ''), decision,
       least(width_bucket(fraud_proba, 0, 1, 20), 20), count(*)
FROM fraudit_batch_inserted GROUP BY 1, 2, 3, 4, 5
ON CONFLICT ({key}, source, country, decision, bucket) DO UPDATE SET
    transactions = r.transactions + EXCLUDED.transactions;
INSERT INTO {places} AS r
    ({key}, country, decision, lat_cell, lon_cell, transactions, predicted_frauds)
SELECT {at}, coalesce(country, ''), decision, floor(latitude * 2) / 2,
       floor(longitude * 2) / 2, count(*), sum(fraud_prediction)
FROM fraudit_batch_inserted WHERE latitude IS NOT NULL AND longitude IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT ({key}, country, decision, lat_cell, lon_cell) DO UPDATE SET
    transactions = r.transactions + EXCLUDED.transactions,
    predicted_frauds = r.predicted_frauds + EXCLUDED.predicted_frauds;
"""


# Rollups (by the minute and by the hour) from exactly the rows this transaction inserted:
# they always equal a GROUP BY over fraud_predictions, whatever was replayed.
ROLL_UP_INSERTED = _roll_up("minute") + _roll_up("hour")

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
