"""The SQL over the stream's tables, pure text: the loader's (column order here is the order
rows are copied in), and the reads of the card events by the online store's rebuild and the
soak's check."""

from __future__ import annotations

PREDICTION_COLUMNS: tuple[str, ...] = (
    "event_id",
    "schema_version",
    "event_time",
    "scored_at",
    "event_minute",
    "user_id",
    "source",
    "amount",
    "fraud_prediction",
    "fraud_proba",
    "anomaly_score",
    "decision",
    "model_version",
    "policy_version",
    "ip_address",
    "device_id",
    "device_type",
    "os_version",
    "app_version",
    "country",
    "region",
    "city",
    "latitude",
    "longitude",
    "merchant_category",
    "feature_set_version",
    "features",
    "ruleset_version",
    "rules",
    "reasons",
    "payload",
    "payload_hash",
    "source_position",
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
    latitude double precision, longitude double precision, merchant_category text,
    rules jsonb
) ON COMMIT DELETE ROWS;
"""


def copy_predictions(table: str) -> str:
    """COPY of loadable rows, in COPY's text format, into fraud_predictions or staging."""
    return f"COPY {_COPY_TARGETS[table]} ({_cols}) FROM STDIN"


def copy_predictions_csv(table: str) -> str:
    """The same COPY in CSV format (rows written by Arrow: see loader.arrow_csv)."""
    return f"COPY {_COPY_TARGETS[table]} ({_cols}) FROM STDIN (FORMAT csv)"


# The only tables rows are copied into (table names cannot be parameters).
_COPY_TARGETS = {"fraud_predictions": "fraud_predictions", "fraudit_staging": "fraudit_staging"}
COPY_STAGING_REJECTED = f"COPY fraudit_staging_rejected ({', '.join(REJECTED_COLUMNS)}) FROM STDIN"

# Every statement here is assembled from the constant column tuples above, never from
# data: rows travel only through COPY or as parameters (hence the S608 exemption).
NOTED_COLUMNS = (
    "event_time, scored_at, user_id, ip_address, device_id, event_minute, "
    "source, country, decision, fraud_prediction, amount, fraud_proba, "
    "latitude, longitude, merchant_category, rules"
)

# The fast path: every row of the batch is new (the usual case), so they are copied
# straight into the table; a duplicate event_id makes the COPY fail and the batch takes
# the staging path below instead.
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

# The inserted rows with every rollup dimension computed once.
_ROLLUP_ROWS = """SELECT event_minute AS at, source, coalesce(country, '') AS country, decision,
       least(width_bucket(fraud_proba, 0, 1, 20), 20) AS bucket,
       floor(latitude * 2) / 2 AS lat_cell, floor(longitude * 2) / 2 AS lon_cell,
       fraud_prediction, amount, fraud_proba, merchant_category
FROM fraudit_batch_inserted"""


# Each rule that fired on an inserted row, live and shadow: whether it changed the decision
# (migrations/007_rules.sql says what that means for each).
_RULE_HIT_ROWS = """SELECT event_minute AS at, hit->>'rule_id' AS rule_id,
       (hit->>'version')::integer AS rule_version, false AS shadow,
       (rules->>'decided_by' = hit->>'rule_id' AND rules->>'model_decision' <> decision) AS changed
FROM fraudit_batch_inserted, jsonb_array_elements(rules->'fired') AS hit
WHERE rules IS NOT NULL
UNION ALL
SELECT event_minute, hit->>'rule_id', (hit->>'version')::integer, true,
       rules->>'shadow_decision' <> decision
FROM fraudit_batch_inserted, jsonb_array_elements(rules->'shadow_fired') AS hit
WHERE rules IS NOT NULL"""


def _roll_up(
    minute_table: str,
    hour_table: str,
    dimensions: list[str],
    measures: dict[str, str],
    where: str = "true",
    rows: str = _ROLLUP_ROWS,
) -> str:
    """One statement: group this transaction's inserted rows by minute once, add the groups
    to the minute table, and their sums by hour to the hour table."""
    dims = ", ".join(dimensions)
    keys = ", ".join(str(i) for i in range(1, len(dimensions) + 2))
    names = ", ".join(measures)
    grouped = ", ".join(f"{expr} AS {name}" for name, expr in measures.items())
    summed = ", ".join(f"sum({name})" for name in measures)
    added = ", ".join(f"{name} = r.{name} + EXCLUDED.{name}" for name in measures)
    return f"""
WITH per_minute AS (
    SELECT at, {dims}, {grouped} FROM ({rows}) AS inserted_rows
    WHERE {where} GROUP BY {keys}
), by_minute AS (
    INSERT INTO {minute_table} AS r (minute, {dims}, {names})
    SELECT at, {dims}, {names} FROM per_minute
    ON CONFLICT (minute, {dims}) DO UPDATE SET {added}
)
INSERT INTO {hour_table} AS r (hour, {dims}, {names})
SELECT date_trunc('hour', at), {dims}, {summed} FROM per_minute GROUP BY {keys}
ON CONFLICT (hour, {dims}) DO UPDATE SET {added}
"""


# Rollups (by the minute and by the hour) from exactly the rows this transaction inserted:
# they always equal a GROUP BY over fraud_predictions, whatever was replayed.
ROLL_UPS = (
    _roll_up(
        "fraud_minute_rollups",
        "fraud_hour_rollups",
        ["source", "country", "decision"],
        {
            "transactions": "count(*)",
            "predicted_frauds": "sum(fraud_prediction)",
            "amount_sum": "sum(amount)",
            "fraud_proba_sum": "sum(fraud_proba::numeric)",
        },
    ),
    _roll_up(
        "fraud_score_rollups",
        "fraud_score_hour_rollups",
        ["source", "country", "decision", "bucket"],
        {"transactions": "count(*)"},
    ),
    # Rows without coordinates are not mapped.
    _roll_up(
        "fraud_geo_rollups",
        "fraud_geo_hour_rollups",
        ["country", "decision", "lat_cell", "lon_cell"],
        {"transactions": "count(*)", "predicted_frauds": "sum(fraud_prediction)"},
        where="lat_cell IS NOT NULL AND lon_cell IS NOT NULL",
    ),
    # Card transactions only: the ULB family has no merchant.
    _roll_up(
        "fraud_category_rollups",
        "fraud_category_hour_rollups",
        ["source", "country", "decision", "merchant_category"],
        {
            "transactions": "count(*)",
            "predicted_frauds": "sum(fraud_prediction)",
            "amount_sum": "sum(amount)",
        },
        where="merchant_category IS NOT NULL",
    ),
    _roll_up(
        "fraud_rule_hit_rollups",
        "fraud_rule_hit_hour_rollups",
        ["rule_id", "rule_version", "shadow"],
        {"hits": "count(*)", "changed_decisions": "count(*) FILTER (WHERE changed)"},
        rows=_RULE_HIT_ROWS,
    ),
)

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

# The batch a local streaming query has loaded, in the batch's own transaction.
RECORD_PROGRESS = """
INSERT INTO fraud_stream_progress (checkpoint, batch_id) VALUES (%(checkpoint)s, %(batch_id)s)
ON CONFLICT (checkpoint) DO UPDATE SET batch_id = excluded.batch_id, updated_at = now()
"""
READ_PROGRESS = "SELECT batch_id FROM fraud_stream_progress WHERE checkpoint = %(checkpoint)s"


# --- reads of the card events by the online store's tools ---------------------------------

# The rows `fraudit features rebuild` counts again into the online store: card events
# (schema version 2) dated within `%(seconds)s` of the newest one, after `%(after)s`, in
# event_id order. Amount and time come from the payload, as the API sent them (the amount
# column is rounded to cents).
CARD_EVENTS_TO_RECOUNT = """
SELECT
    event_id,
    payload->>'timestamp',
    payload->>'amount',
    payload->'card'->>'card_token',
    payload->'card'->>'merchant_id',
    payload->'card'->>'merchant_category',
    payload->'card'->>'merchant_lat',
    payload->'card'->>'merchant_lon',
    (payload->'card'->>'store_arrival')::bigint,
    payload->'card'->'store_arrivals',
    payload->'device_info'->>'device_id',
    ip_address
FROM fraud_predictions
WHERE schema_version = 2
  AND event_time > (SELECT max(event_time) FROM fraud_predictions WHERE schema_version = 2)
                   - make_interval(secs => %(seconds)s)
  AND event_id > %(after)s
ORDER BY event_id
"""

# Each stored card event's entities, for the soak's check that the online store holds
# exactly the transactions the rows name.
CARD_EVENT_ENTITIES = """
SELECT event_id, EXTRACT(EPOCH FROM event_time)::float8, payload->'card'->>'card_token',
       payload->'card'->>'merchant_id', payload->'device_info'->>'device_id', ip_address
FROM fraud_predictions WHERE schema_version = 2
"""


# --- rules (migrations/007_rules.sql) -------------------------------------------------------

# Every rule version with its current state (the latest change in its trail).
CURRENT_RULE_STATES = """
SELECT v.rule_id, v.version, v.family, v.action, v.priority, v.expression, v.reason,
       v.adjustment, v.created_by, v.why, c.state
FROM fraud_rule_versions v
JOIN LATERAL (
    SELECT state FROM fraud_rule_changes c
    WHERE c.rule_id = v.rule_id AND c.version = v.version
    ORDER BY change_id DESC LIMIT 1
) c ON true
"""
