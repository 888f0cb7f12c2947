"""The sink's Arrow path (pyspark 4: the batch comes to the driver as Arrow and is copied
as CSV written by Arrow) stores exactly what the row-tuple path stores, value by value,
including the values CSV makes awkward."""

from __future__ import annotations

import json

import psycopg
import pytest

from fraudit.db import sql
from fraudit.local.pg_cluster import temporary_database
from fraudit.stream.indicators import parse_rules
from fraudit.stream.load import CopyBatch, PostgresSink, arrow_csv, split_arrow
from fraudit.stream.transform import transform
from tests.integration.test_loader import ROLLUP_CHECK, scalar
from tests.support.stream_records import as_json, event, event_record, raw_frame, record

pytestmark = pytest.mark.integration

AWKWARD = [
    {"user_id": 'u "quoted", with commas', "source": "line\nbreak\r\nand \\ backslash"},
    {"user_id": "ünïcødé 🃏 カード", "source": "\\N"},  # \N is NULL in COPY's text format
    {"user_id": "\\.", "source": "tab\there"},  # \. alone ends COPY data
    {
        "geo": {"country": "fr", "region": "", "city": "", "latitude": -90.0, "longitude": 180.0}
    },  # empty strings must stay '' (not NULL)
    {"geo": None, "device_info": None, "ip_address": None},  # missing values are NULL
    {"amount": 99_999_999_999.99, "fraud_proba": 1e-7, "anomaly_score": -1.5e-300},
    {"amount": 0.1 + 0.2, "fraud_proba": 1.0, "anomaly_score": 12345678.123456789},
    {"device_info": {"device_id": "d,1", "device_type": "", "os_version": '"', "app_version": "'"}},
]


def awkward_record(i: int, changes: dict) -> tuple:
    """Written as raw JSON: any producer may put these on the stream, not only our API."""
    body = {**as_json(event(i)), **changes}
    return record(json.dumps(body, ensure_ascii=False), i)


ALL_COLUMNS = ", ".join(sql.PREDICTION_COLUMNS)

# Every user, IP and device alerts: the alerts show the values the rules read back.
EVERY_ENTITY = parse_rules("""
[[rule]]
name = "any_user"
group_by = "user_id"
aggregate = "sum"
field = "amount"
window = "15 minutes"
threshold = 0
[[rule]]
name = "any_ip"
group_by = "ip_address"
aggregate = "count"
window = "10 minutes"
threshold = 0
[[rule]]
name = "any_device"
group_by = "device_id"
aggregate = "count_distinct"
field = "user_id"
window = "10 minutes"
threshold = 0
""")


def alerts(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT rule, entity, window_start, value FROM fraud_alerts ORDER BY 1, 2, 3"
        ).fetchall()


def stored(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"SELECT {ALL_COLUMNS} FROM fraud_predictions ORDER BY event_id"
        ).fetchall()


def test_arrow_csv_copy_stores_what_the_tuple_path_stores(spark, database):
    records = [awkward_record(i, changes) for i, changes in enumerate(AWKWARD)]
    records += [event_record(100 + i) for i in range(30)]
    transformed = transform(raw_frame(spark, records))
    table = transformed.toArrow()
    by_rows = CopyBatch.from_rows(row.asDict() for row in transformed.collect())
    assert len(by_rows) == len(records)
    assert not by_rows.invalid

    by_arrow = PostgresSink(database, rules=EVERY_ENTITY)
    assert by_arrow.load(CopyBatch.from_arrow(table)).inserted == len(records)
    by_arrow.close()
    with temporary_database(
        "postgresql://postgres@127.0.0.1:5432/postgres", "fraudit_test_tuples"
    ) as other:
        by_tuples = PostgresSink(other, rules=EVERY_ENTITY)
        assert by_tuples.load(by_rows).inserted == len(records)
        by_tuples.close()
        expected = stored(other)
        expected_alerts = alerts(other)
        assert scalar(other, ROLLUP_CHECK) == 0
    # What the rollups and rules read of the batch is what the table holds, both ways.
    assert scalar(database, ROLLUP_CHECK) == 0
    assert alerts(database) == expected_alerts
    entities = {entity for _, entity, _, _ in expected_alerts}
    assert 'u "quoted", with commas' in entities
    assert "d,1" in entities
    got = stored(database)
    assert len(got) == len(expected) == len(records)
    for mine, theirs in zip(got, expected, strict=True):
        for column, a, b in zip(sql.PREDICTION_COLUMNS, mine, theirs, strict=True):
            assert a == b, (column, a, b)
    assert any(row[sql.PREDICTION_COLUMNS.index("region")] == "" for row in got)
    assert any(row[sql.PREDICTION_COLUMNS.index("region")] is None for row in got)


def test_an_arrow_batch_with_a_known_event_takes_the_staging_path(spark, database):
    sink = PostgresSink(database)
    first = transform(raw_frame(spark, [event_record(i) for i in range(5)])).toArrow()
    assert sink.load(CopyBatch.from_arrow(first)).inserted == 5
    # Rows 3 and 4 again (a replay overlapping the next batch): the all-new COPY fails on
    # them, and the batch falls back to staging, where only rows 5-9 are new.
    overlap = transform(raw_frame(spark, [event_record(i) for i in range(3, 10)])).toArrow()
    result = sink.load(CopyBatch.from_arrow(overlap))
    assert (result.inserted, result.rejected_conflicts) == (5, 0)
    assert [r[0] for r in stored(database)] == sorted(f"ev-{i}" for i in range(10))
    sink.close()


def test_the_csv_has_one_line_per_row_and_quotes_every_string(spark):
    table = transform(raw_frame(spark, [awkward_record(0, {"user_id": "a\nb"})])).toArrow()
    predictions, invalid, labels = split_arrow(table)
    text = arrow_csv(predictions).decode()
    assert invalid == []
    assert labels == []
    assert text.count('"a\nb"') == 1
    assert len(CopyBatch.from_arrow(table)) == 1
