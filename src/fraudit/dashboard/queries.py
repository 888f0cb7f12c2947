"""Every dashboard panel as one parameterised SQL query. Pure: text and parameters only.

Counts and sums come from the job's rollups (exact, maintained in the same transaction as
the rows), so a panel reads minutes rather than rows; only "latest events" and the health
panel touch fraud_predictions, through indexes (event_time, processed_at).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fraudit.db.sql import CURRENT_RULE_STATES
from fraudit.labels.queries import FRAUD_REPORT_DELAYS


@dataclass(frozen=True)
class Filters:
    start: datetime  # event time, inclusive
    end: datetime  # event time, exclusive
    countries: tuple[str, ...] = ()  # empty = all
    sources: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("filter times must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("the period must end after it starts")

    def params(self) -> dict[str, Any]:
        first_minute = self.start.replace(second=0, microsecond=0)
        first_hour = first_minute.replace(minute=0)
        if first_hour < first_minute:
            first_hour += timedelta(hours=1)
        return {
            "start": self.start,
            "end": self.end,
            "countries": list(self.countries),
            "sources": list(self.sources),
            "decisions": list(self.decisions),
            "first_minute": first_minute,
            "first_hour": first_hour,
            "last_hour": self.end.replace(minute=0, second=0, microsecond=0),
        }

    @property
    def by_hours(self) -> bool:
        """Periods over a day are read from the hourly rollups (ragged ends from minutes)."""
        return (self.end - self.start) > timedelta(days=1)

    @property
    def bucket_seconds(self) -> int:
        """Time-series step: at most 400 points; whole hours once the period is read by
        hours."""
        span = (self.end - self.start).total_seconds()
        steps = (3600, 6 * 3600, 86400, 7 * 86400) if self.by_hours else (60, 300, 900)
        return next((step for step in steps if span / step <= 400), steps[-1])


@dataclass(frozen=True)
class Query:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


_COUNTRY_DECISION = """
    AND (cardinality(%(countries)s::text[]) = 0 OR country = ANY(%(countries)s::text[]))
    AND (cardinality(%(decisions)s::text[]) = 0 OR decision = ANY(%(decisions)s::text[]))"""
_SOURCE = """
    AND (cardinality(%(sources)s::text[]) = 0 OR source = ANY(%(sources)s::text[]))"""

# Each rollup at its two grains, the columns panels read from it, and the filters it can
# apply (the map's rollup has no source dimension).
_ROLLUPS = {
    "counts": (
        "fraud_minute_rollups",
        "fraud_hour_rollups",
        "decision, transactions, predicted_frauds, amount_sum, fraud_proba_sum",
        _COUNTRY_DECISION + _SOURCE,
    ),
    "scores": (
        "fraud_score_rollups",
        "fraud_score_hour_rollups",
        "decision, bucket, transactions",
        _COUNTRY_DECISION + _SOURCE,
    ),
    "categories": (
        "fraud_category_rollups",
        "fraud_category_hour_rollups",
        "merchant_category, transactions, predicted_frauds, amount_sum",
        _COUNTRY_DECISION + _SOURCE,
    ),
    "places": (
        "fraud_geo_rollups",
        "fraud_geo_hour_rollups",
        "lat_cell, lon_cell, transactions, predicted_frauds",
        _COUNTRY_DECISION,
    ),
    # Rule hits are per rule, over every event: the page's filters do not apply to them.
    "rules": (
        "fraud_rule_hit_rollups",
        "fraud_rule_hit_hour_rollups",
        "rule_id, rule_version, shadow, hits, changed_decisions",
        "",
    ),
}


def _rollup(kind: str, f: Filters) -> str:
    """A FROM item with the rollup rows of the period and filters, the time column named
    `minute`: minutes alone for short periods; for long ones minutes at the ragged ends
    and hours in between, so sums are exact to the minute either way. The SQL text depends
    only on `kind` and whether the period is long, never on values."""
    minutes, hours, columns, filters = _ROLLUPS[kind]
    if not f.by_hours:
        return f"""(SELECT minute, {columns} FROM {minutes}
    WHERE minute >= %(first_minute)s AND minute < %(end)s {filters}) AS r"""
    return f"""(
    SELECT minute, {columns} FROM {minutes}
    WHERE minute >= %(first_minute)s AND minute < least(%(first_hour)s, %(end)s) {filters}
    UNION ALL
    SELECT hour, {columns} FROM {hours}
    WHERE hour >= %(first_hour)s AND hour < %(last_hour)s {filters}
    UNION ALL
    SELECT minute, {columns} FROM {minutes}
    WHERE minute >= greatest(%(last_hour)s, %(first_hour)s) AND minute < %(end)s
    {filters}) AS r"""


_ROW_WHERE = """
    event_time >= %(start)s AND event_time < %(end)s
    AND (cardinality(%(countries)s::text[]) = 0
         OR coalesce(country, '') = ANY(%(countries)s::text[]))
    AND (cardinality(%(sources)s::text[]) = 0 OR source = ANY(%(sources)s::text[]))
    AND (cardinality(%(decisions)s::text[]) = 0 OR decision = ANY(%(decisions)s::text[]))
"""


def kpis(f: Filters) -> Query:
    return Query(
        f"""
SELECT coalesce(sum(transactions), 0)::bigint AS transactions,
       coalesce(sum(transactions) FILTER (WHERE decision = 'decline'), 0)::bigint AS declined,
       coalesce(sum(transactions) FILTER (WHERE decision = 'review'), 0)::bigint AS reviewed,
       coalesce(sum(predicted_frauds), 0)::bigint AS predicted_frauds,
       sum(predicted_frauds)::float8 / nullif(sum(transactions), 0) AS fraud_rate,
       sum(fraud_proba_sum)::float8 / nullif(sum(transactions), 0) AS mean_probability,
       coalesce(sum(amount_sum), 0)::float8 AS amount
FROM {_rollup("counts", f)}""",
        f.params(),
    )


def per_minute(f: Filters) -> Query:
    return Query(
        f"""
SELECT date_bin(make_interval(secs => %(step)s), minute,
                TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket,
       sum(transactions)::bigint AS transactions,
       sum(predicted_frauds)::bigint AS predicted_frauds,
       coalesce(sum(transactions) FILTER (WHERE decision = 'decline'), 0)::bigint AS declined
FROM {_rollup("counts", f)}
GROUP BY 1 ORDER BY 1""",
        {**f.params(), "step": f.bucket_seconds},
    )


def decision_mix(f: Filters) -> Query:
    return Query(
        f"""
SELECT decision, sum(transactions)::bigint AS transactions
FROM {_rollup("counts", f)}
GROUP BY decision ORDER BY decision""",
        f.params(),
    )


def score_distribution(f: Filters) -> Query:
    return Query(
        f"""
SELECT bucket, ((bucket - 1) * 0.05)::float8 AS low, (bucket * 0.05)::float8 AS high,
       sum(transactions)::bigint AS transactions
FROM {_rollup("scores", f)}
GROUP BY bucket ORDER BY bucket""",
        f.params(),
    )


def category_mix(f: Filters) -> Query:
    """Card transactions and predicted frauds per merchant category."""
    return Query(
        f"""
SELECT merchant_category, sum(transactions)::bigint AS transactions,
       sum(predicted_frauds)::bigint AS predicted_frauds
FROM {_rollup("categories", f)}
GROUP BY merchant_category ORDER BY transactions DESC, merchant_category""",
        f.params(),
    )


def activity_map(f: Filters) -> Query:
    """Country and decision filters apply; the source filter does not (see the rollup)."""
    return Query(
        f"""
SELECT lat_cell::float8 + 0.25 AS latitude, lon_cell::float8 + 0.25 AS longitude,
       sum(transactions)::bigint AS transactions,
       sum(predicted_frauds)::bigint AS predicted_frauds
FROM {_rollup("places", f)}
GROUP BY lat_cell, lon_cell ORDER BY 3 DESC LIMIT 2000""",
        f.params(),
    )


def filter_options() -> Query:
    """Countries and sources seen (from the rollups, so it stays cheap)."""
    return Query("""
SELECT 'country' AS kind, country AS value FROM fraud_hour_rollups
 WHERE hour > now() - interval '30 days' AND country <> '' GROUP BY country
UNION ALL
SELECT 'source', source FROM fraud_hour_rollups
 WHERE hour > now() - interval '30 days' GROUP BY source
ORDER BY 1, 2""")


def latest_alerts(f: Filters, limit: int = 50) -> Query:
    return Query(
        """
SELECT rule, entity_type, entity, window_start, window_end, value, threshold, raised_at,
       updated_at
FROM fraud_alerts
WHERE window_start < %(end)s AND window_end > %(start)s
ORDER BY updated_at DESC, rule, entity LIMIT %(limit)s""",
        {**f.params(), "limit": limit},
    )


def latest_events(f: Filters, limit: int = 100) -> Query:
    return Query(
        f"""
SELECT event_time, event_id, user_id, source, country, city, merchant_category AS category,
       amount::float8 AS amount, fraud_proba, anomaly_score, decision, ip_address, device_type
FROM fraud_predictions WHERE {_ROW_WHERE}
ORDER BY event_time DESC LIMIT %(limit)s""",
        {**f.params(), "limit": limit},
    )


def latest_reasons(f: Filters, limit: int = 50) -> Query:
    """The latest reviews and declines with why: the rule that decided (or the model), the
    rules that fired, the classifier's and the detector's reasons in words."""
    return Query(
        f"""
SELECT event_time, event_id, decision, fraud_proba, anomaly_score,
       coalesce(rules->>'decided_by', 'model') AS decided_by,
       (SELECT string_agg(h->>'rule_id' || ' (' || (h->>'action') || ')', ', ')
        FROM jsonb_array_elements(rules->'fired') AS h) AS rules_fired,
       (SELECT string_agg(r->>'text', '; ')
        FROM jsonb_array_elements(reasons->'model') AS r) AS model_reasons,
       (SELECT string_agg(r->>'text', '; ')
        FROM jsonb_array_elements(reasons->'anomaly') AS r) AS detector_reasons
FROM fraud_predictions
WHERE {_ROW_WHERE} AND decision IN ('review', 'decline')
ORDER BY event_time DESC LIMIT %(limit)s""",
        {**f.params(), "limit": limit},
    )


def rule_hits(f: Filters) -> Query:
    """Every shadow and live rule, and every rule that fired in the period, with its hits
    and the decisions it changed (exact: from the rollups)."""
    return Query(
        f"""
WITH hits AS (
    SELECT rule_id, rule_version, shadow, sum(hits)::bigint AS hits,
           sum(changed_decisions)::bigint AS changed_decisions
    FROM {_rollup("rules", f)} GROUP BY 1, 2, 3
), rules AS ({CURRENT_RULE_STATES})
SELECT coalesce(h.rule_id, r.rule_id) AS rule_id,
       coalesce(h.rule_version, r.version) AS version,
       coalesce(r.state, 'unknown') AS state_now,
       CASE WHEN h.shadow IS NULL THEN r.state WHEN h.shadow THEN 'shadow' ELSE 'live' END
           AS fired_as,
       r.action, r.reason, coalesce(h.hits, 0) AS hits,
       coalesce(h.changed_decisions, 0) AS changed_decisions
FROM hits h
FULL OUTER JOIN (SELECT * FROM rules WHERE state IN ('shadow', 'live')) r
    ON r.rule_id = h.rule_id AND r.version = h.rule_version
ORDER BY hits DESC, rule_id, version""",
        f.params(),
    )


def pipeline_health() -> Query:
    """Last row loaded and how long it took from scoring to the table, the job's last
    committed batch, and the rejected records."""
    return Query("""
SELECT latest.processed_at AS last_loaded_at, latest.event_time AS last_event_time,
       extract(epoch FROM latest.processed_at - latest.scored_at)::float8 AS load_lag_seconds,
       (SELECT max(updated_at) FROM fraud_stream_watermarks) AS last_batch_at,
       (SELECT count(*) FROM fraud_predictions_rejected) AS rejected_total,
       (SELECT count(*) FROM fraud_predictions_rejected
         WHERE rejected_at > now() - interval '1 hour') AS rejected_last_hour
FROM (SELECT processed_at, event_time, scored_at FROM fraud_predictions
      ORDER BY processed_at DESC LIMIT 1) latest
RIGHT JOIN (SELECT 1) one ON true""")


def recent_rejections(limit: int = 20) -> Query:
    return Query(
        """
SELECT rejected_at, reason, event_id, left(raw_payload, 200) AS raw_payload
FROM fraud_predictions_rejected ORDER BY rejected_at DESC LIMIT %(limit)s""",
        {"limit": limit},
    )


def default_filters(now: datetime, hours: float = 1.0) -> Filters:
    return Filters(start=now - timedelta(hours=hours), end=now + timedelta(minutes=1))


def label_delays(f: Filters, as_of: datetime) -> Query:
    """For the period's decisions: how many days each reported fraud took to be reported,
    per source (fraudit.labels.maturity turns it into the arrival curve)."""
    return Query(FRAUD_REPORT_DELAYS, {"start": f.start, "end": f.end, "as_of": as_of})


def label_counts(as_of: datetime) -> Query:
    """Labels reported by `as_of`, frauds among them, and those naming no stored event."""
    return Query(
        """
SELECT count(*) AS labels, count(*) FILTER (WHERE label = 'fraud') AS fraud_labels,
       count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM fraud_predictions p WHERE p.event_id = l.event_id)) AS without_event
FROM fraud_labels l WHERE reported_at <= %(as_of)s""",
        {"as_of": as_of},
    )


def backtest_runs(limit: int = 50) -> Query:
    return Query(
        """
SELECT run_id, created_at, created_by, candidate->>'ruleset_version' AS ruleset,
       candidate->>'policy_version' AS policy, period_start, period_end, as_of, decisions
FROM fraud_backtest_runs ORDER BY created_at DESC LIMIT %(limit)s""",
        {"limit": limit},
    )


def backtest_report(run_id: str) -> Query:
    return Query(
        "SELECT report FROM fraud_backtest_runs WHERE run_id = %(run_id)s", {"run_id": run_id}
    )
