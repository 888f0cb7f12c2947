"""The SQL over labels, pure text: storing them once, the label that counts for each event
as of a date (contract.SOURCE_PRECEDENCE), and the arrival of fraud reports by delay."""

from __future__ import annotations

from fraudit.labels.contract import LABEL_FIELDS, SOURCE_PRECEDENCE

LABEL_COLUMNS: tuple[str, ...] = ("label_id", *LABEL_FIELDS, "received_by")

CREATE_LABEL_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS fraudit_label_staging
    (LIKE fraud_labels INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"""
COPY_LABEL_STAGING = f"COPY fraudit_label_staging ({', '.join(LABEL_COLUMNS)}) FROM STDIN"
# Returns the event ids of the labels stored now (a label already there is skipped).
INSERT_LABELS = f"""
INSERT INTO fraud_labels ({", ".join(LABEL_COLUMNS)})
SELECT DISTINCT ON (label_id) {", ".join(LABEL_COLUMNS)} FROM fraudit_label_staging
ORDER BY label_id
ON CONFLICT (label_id) DO NOTHING
RETURNING event_id"""
# Of the given event ids, those fraudit has no decision for (yet).
UNKNOWN_EVENTS = """
SELECT count(*) FROM unnest(%(ids)s::text[]) AS l(event_id)
WHERE NOT EXISTS (SELECT 1 FROM fraud_predictions p WHERE p.event_id = l.event_id)"""


def source_rank_sql(column: str = "source") -> str:
    """A CASE giving each source its place in SOURCE_PRECEDENCE (0 wins)."""
    whens = " ".join(f"WHEN '{s.value}' THEN {i}" for i, s in enumerate(SOURCE_PRECEDENCE))
    return f"CASE {column} {whens} END"


# The label that counts for each event, among those reported by %(as_of)s.
EFFECTIVE_LABELS = f"""
SELECT DISTINCT ON (event_id) event_id, label, source, reported_at, amount
FROM fraud_labels
WHERE reported_at <= %(as_of)s
ORDER BY event_id, {source_rank_sql()}, reported_at DESC, label_id"""

# Frauds of the period's decisions reported by the as-of date: per source (and 'any'),
# how many days after the transaction each was first reported. Delays are whole days,
# rounded up: "within d days" means reported no later than d x 24 h after the transaction.
FRAUD_REPORT_DELAYS = """
WITH first_reports AS (
    SELECT l.event_id, l.source, min(l.reported_at) AS reported_at
    FROM fraud_labels l
    WHERE l.label = 'fraud' AND l.reported_at <= %(as_of)s
    GROUP BY l.event_id, l.source
), per_source AS (
    SELECT r.source, r.event_id, r.reported_at - p.event_time AS delay
    FROM first_reports r JOIN fraud_predictions p USING (event_id)
    WHERE p.event_time >= %(start)s AND p.event_time < %(end)s
), per_event AS (
    SELECT 'any' AS source, event_id, min(delay) AS delay FROM per_source GROUP BY event_id
)
SELECT source, greatest(ceil(extract(epoch FROM delay) / 86400), 0)::int AS days, count(*)
FROM (SELECT source, event_id, delay FROM per_source UNION ALL SELECT * FROM per_event) d
GROUP BY source, days
ORDER BY source, days"""

# Labels the store holds for events it has no decision for.
LABELS_WITHOUT_EVENTS = """
SELECT count(*) FROM fraud_labels l
WHERE NOT EXISTS (SELECT 1 FROM fraud_predictions p WHERE p.event_id = l.event_id)"""

# The label that counts for each decision of a period, as of a date (the backtest's input).
PERIOD_EFFECTIVE_LABELS = f"""
SELECT l.event_id, l.label FROM ({EFFECTIVE_LABELS}) l
JOIN fraud_predictions p USING (event_id)
WHERE p.event_time >= %(start)s AND p.event_time < %(end)s"""

# A period's stored events of one schema and feature set (`schema`, `features`) with their
# feature snapshots, the label that counts as of a date, and when each event's fraud was
# first reported (NULL: no fraud known by then): retraining on the team's own decisions.
LABELLED_SNAPSHOTS = f"""
WITH effective AS ({EFFECTIVE_LABELS}),
known AS (
    SELECT event_id, min(reported_at) AS known_at FROM fraud_labels
    WHERE label = 'fraud' AND reported_at <= %(as_of)s GROUP BY event_id
)
SELECT extract(epoch FROM p.event_time)::float8, p.features::text,
       p.payload -> 'card' ->> 'card_token', e.label, extract(epoch FROM k.known_at)::float8
FROM fraud_predictions p
LEFT JOIN effective e USING (event_id)
LEFT JOIN known k USING (event_id)
WHERE p.schema_version = %(schema)s AND p.feature_set_version = %(features)s
  AND p.event_time >= %(start)s AND p.event_time < %(end)s
ORDER BY p.event_time, p.event_id"""
