"""The PostgreSQL sink against the real server: exactly-once effect, rollups, rejections."""

from __future__ import annotations

import psycopg
import pytest

from fraudit.db.schema import apply_schema, migrations
from fraudit.db.sql import CONFLICT_REASON
from fraudit.stream.batch import process_batch
from fraudit.stream.load import CopyBatch, PostgresSink
from tests.support.stream_records import as_json, event, event_record, raw_frame, record

pytestmark = pytest.mark.integration

ROLLUP_CHECK = """
SELECT count(*) FROM (
  SELECT event_minute, source, coalesce(country, '') AS country, decision, count(*) AS n,
         sum(fraud_prediction) AS f, sum(amount) AS a, sum(fraud_proba::numeric) AS p
  FROM fraud_predictions GROUP BY 1, 2, 3, 4
) g FULL JOIN fraud_minute_rollups r
  ON r.minute = g.event_minute AND r.source = g.source AND r.country = g.country
 AND r.decision = g.decision
WHERE r.transactions IS DISTINCT FROM g.n OR r.predicted_frauds IS DISTINCT FROM g.f
   OR r.amount_sum IS DISTINCT FROM g.a OR r.fraud_proba_sum IS DISTINCT FROM g.p
"""


SCORE_GROUPS = """SELECT event_minute, source, coalesce(country, ''), decision,
    least(width_bucket(fraud_proba, 0, 1, 20), 20)::smallint, count(*)
    FROM fraud_predictions GROUP BY 1, 2, 3, 4, 5"""
GEO_GROUPS = """SELECT event_minute, coalesce(country, ''), decision,
    (floor(latitude * 2) / 2)::numeric(5, 1), (floor(longitude * 2) / 2)::numeric(5, 1),
    count(*), sum(fraud_prediction) FROM fraud_predictions WHERE latitude IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5"""
SCORE_ROLLUP = (
    "SELECT minute, source, country, decision, bucket, transactions FROM fraud_score_rollups"
)
GEO_ROLLUP = (
    "SELECT minute, country, decision, lat_cell, lon_cell, transactions,"
    " predicted_frauds FROM fraud_geo_rollups"
)
HOURS = """SELECT date_trunc('hour', minute), source, country, decision, sum(transactions),
    sum(predicted_frauds), sum(amount_sum), sum(fraud_proba_sum) FROM fraud_minute_rollups
    GROUP BY 1, 2, 3, 4"""
HOUR_ROLLUP = """SELECT hour, source, country, decision, transactions, predicted_frauds,
    amount_sum, fraud_proba_sum FROM fraud_hour_rollups"""
SCORE_AND_GEO_CHECK = f"""SELECT
    (SELECT count(*) FROM (({HOURS}) EXCEPT ({HOUR_ROLLUP})) h)
  + (SELECT count(*) FROM (({HOUR_ROLLUP}) EXCEPT ({HOURS})) i)
  + (SELECT abs((SELECT sum(transactions) FROM fraud_score_hour_rollups)
                - (SELECT count(*) FROM fraud_predictions)))
  + (SELECT abs((SELECT sum(transactions) FROM fraud_geo_hour_rollups)
                - (SELECT count(*) FROM fraud_predictions WHERE latitude IS NOT NULL)))
  + (SELECT count(*) FROM (({SCORE_GROUPS}) EXCEPT ({SCORE_ROLLUP})) a)
  + (SELECT count(*) FROM (({SCORE_ROLLUP}) EXCEPT ({SCORE_GROUPS})) b)
  + (SELECT count(*) FROM (({GEO_GROUPS}) EXCEPT ({GEO_ROLLUP})) c)
  + (SELECT count(*) FROM (({GEO_ROLLUP}) EXCEPT ({GEO_GROUPS})) d)"""


def scalar(url, query):
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone()[0]


def test_schema_applies_once_and_is_idempotent(database):
    with psycopg.connect(database) as conn:
        assert apply_schema(conn) == [v for v, _ in migrations()]
        assert apply_schema(conn) == []
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    assert {
        "fraud_predictions",
        "fraud_predictions_rejected",
        "fraud_alerts",
        "fraud_minute_rollups",
        "schema_migrations",
    } <= tables


def test_rows_land_field_by_field_and_a_replay_adds_nothing(spark, database):
    sink = PostgresSink(database)
    records = [event_record(i) for i in range(40)] + [record(b"garbage", 900)]
    batch = raw_frame(spark, records)
    first = process_batch(batch, 0, sink)
    assert (first.inserted, first.rejected_invalid) == (40, 1)
    again = process_batch(batch, 0, sink)  # the same micro-batch, replayed after a crash
    assert (again.inserted, again.rejected_invalid, again.rejected_conflicts) == (0, 0, 0)
    assert scalar(database, "SELECT count(*) FROM fraud_predictions") == 40
    assert scalar(database, "SELECT count(*) FROM fraud_predictions_rejected") == 1
    assert scalar(database, ROLLUP_CHECK) == 0  # rollups == GROUP BY, exactly
    assert scalar(database, SCORE_AND_GEO_CHECK) == 0
    with psycopg.connect(database) as conn:
        row = conn.execute("""SELECT event_id, event_time, scored_at, user_id, source, amount,
                                     fraud_prediction, fraud_proba, anomaly_score, decision,
                                     model_version, policy_version, ip_address, device_type,
                                     country, city, payload, device_id
                              FROM fraud_predictions WHERE event_id = 'ev-3'""").fetchone()
    e = event(3)
    assert row[0] == "ev-3"
    assert row[1] == e.timestamp
    assert row[2] == e.scored_at
    assert row[3:5] == (e.user_id, e.source)
    assert float(row[5]) == e.amount
    assert row[6:12] == (
        e.fraud_prediction,
        e.fraud_proba,
        e.anomaly_score,
        e.decision,
        e.model_version,
        e.policy_version,
    )
    assert row[12] == e.ip_address
    assert row[13] == "mobile"
    assert row[15] == "Paris"
    assert row[14] == (e.geo.country.upper() if e.geo.country else None)
    assert row[16] == as_json(e)
    assert row[17] == "d_3"
    sink.close()


def test_same_event_id_with_other_content_is_rejected_not_lost(spark, database):
    sink = PostgresSink(database)
    process_batch(raw_frame(spark, [event_record(5)]), 0, sink)
    changed = event_record(5, position=905, decision="decline", fraud_proba=0.99)
    result = process_batch(raw_frame(spark, [changed, event_record(6)]), 1, sink)
    assert (result.inserted, result.rejected_conflicts) == (1, 1)
    with psycopg.connect(database) as conn:
        reason, event_id = conn.execute(
            "SELECT reason, event_id FROM fraud_predictions_rejected"
        ).fetchone()
        kept = conn.execute(
            "SELECT decision FROM fraud_predictions WHERE event_id = 'ev-5'"
        ).fetchone()[0]
    assert (reason, event_id) == (CONFLICT_REASON, "ev-5")
    assert kept == event(5).decision  # the first version stays
    process_batch(raw_frame(spark, [changed]), 2, sink)  # replay of the conflict
    assert scalar(database, "SELECT count(*) FROM fraud_predictions_rejected") == 1
    sink.close()


def test_a_row_the_database_refuses_does_not_block_its_batch(database):
    sink = PostgresSink(database)
    good = {
        "event_id": "ok-1",
        "schema_version": 1,
        "event_time_us": 1_755_798_300_000_000,
        "scored_at_us": 1_755_798_300_004_000,
        "event_minute_us": 1_755_798_300_000_000,
        "user_id": "u",
        "source": "web",
        "amount": 1.0,
        "fraud_prediction": 0,
        "fraud_proba": 0.1,
        "anomaly_score": 0.5,
        "decision": "approve",
        "model_version": "m",
        "policy_version": "p",
        "ip_address": None,
        "device_id": None,
        "device_type": None,
        "os_version": None,
        "app_version": None,
        "country": None,
        "region": None,
        "city": None,
        "latitude": None,
        "longitude": None,
        "merchant_category": None,
        "feature_set_version": None,
        "features": None,
        "ruleset_version": None,
        "rules": None,
        "reasons": None,
        "payload": '{"event_id": "ok-1"}',
        "payload_hash": "h1",
        "source_position": "s:1",
    }
    bad = {
        **good,
        "event_id": "bad-1",
        "country": "FRA",  # char(2) refuses it
        "payload": '{"event_id": "bad-1"}',
        "payload_hash": "h2",
        "source_position": "s:2",
    }
    result = sink.load(CopyBatch.from_rows([good, bad]))
    assert result.inserted == 1
    with psycopg.connect(database) as conn:
        (reason,) = conn.execute(
            "SELECT reason FROM fraud_predictions_rejected WHERE event_id = 'bad-1'"
        ).fetchone()
    assert reason.startswith("database refused the row")
    assert scalar(database, ROLLUP_CHECK) == 0
    sink.close()
