"""The Glue job's batch function on real Spark and PostgreSQL, fed a frame shaped as Glue's
Kinesis source delivers it (JSON parsed with our schema, plus __src_timestamp)."""

from __future__ import annotations

import psycopg
import pytest

from fraudit.api.plan import encode_event
from fraudit.stream.glue import kinesis_connection_options, make_batch_function, parse_args
from fraudit.stream.load import PostgresSink
from fraudit.stream.schema import glue_event_ddl
from tests.support.stream_records import card_event, event
from tests.unit.test_stream_glue import REQUIRED, STREAM

pytestmark = pytest.mark.integration


def test_source_options_read_the_stream_with_our_schema(spark):
    from pyspark.sql.types import StructType

    options = kinesis_connection_options(parse_args([*REQUIRED, "--max_fetch_records", "500"]))
    assert options["streamARN"] == STREAM
    assert options["classification"] == "json"
    assert options["inferSchema"] == "false"
    assert options["addRecordTimestamp"] == "true"
    assert options["maxFetchRecordsPerShard"] == "500"
    parsed = spark.createDataFrame([], options["schema"]).schema  # valid Spark DDL
    assert isinstance(parsed, StructType)
    assert {"event_id", "timestamp", "device_info", "geo"} <= set(parsed.fieldNames())


def glue_frame(spark, lines):
    from pyspark.sql import functions as F

    parsed = spark.read.schema(glue_event_ddl()).json(spark.sparkContext.parallelize(lines))
    # the record's arrival time in the stream: the same when Glue replays the batch
    return parsed.withColumn("__src_timestamp", F.lit("2025-08-21 17:45:00").cast("timestamp"))


def test_glue_batches_land_rows_alerts_and_rollups_once(spark, database):
    lines = [encode_event(event(i))[0].decode() for i in range(30)]
    lines.append('{"schema_version": 1, "event_id": "no-fields"}')
    frame = glue_frame(spark, lines)
    sink = PostgresSink(database, job="glue-test")
    each_batch = make_batch_function(sink)
    each_batch(frame, 0)
    each_batch(frame, 0)  # Glue replays the batch after a restart
    with psycopg.connect(database) as conn:
        count, amount = conn.execute(
            "SELECT count(*), sum(amount) FROM fraud_predictions"
        ).fetchone()
        rejected = conn.execute(
            "SELECT event_id, reason FROM fraud_predictions_rejected"
        ).fetchall()
        row = conn.execute(
            "SELECT user_id, device_id, country, decision FROM "
            "fraud_predictions WHERE event_id = 'ev-4'"
        ).fetchone()
        watermark = conn.execute(
            "SELECT count(*) FROM fraud_stream_watermarks WHERE job = 'glue-test'"
        ).fetchone()[0]
    assert count == 30
    assert float(amount) == sum(event(i).amount for i in range(30))
    assert rejected == [("no-fields", "missing required field: timestamp")]
    e = event(4)
    assert row == (e.user_id, "d_4", "US" if e.geo.country else None, e.decision)
    assert watermark == 1
    sink.close()


def test_card_events_land_with_their_feature_snapshot(spark, database):
    """Through Glue's parsed frame (only the schema's fields survive it) into PostgreSQL:
    the snapshot, its version and the merchant category, nulls included."""
    sent = [card_event(i) for i in range(6)]
    frame = glue_frame(spark, [encode_event(e)[0].decode() for e in sent])
    sink = PostgresSink(database, job="glue-cards")
    make_batch_function(sink)(frame, 0)
    sink.close()
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT event_id, schema_version, merchant_category, feature_set_version, features, "
            "payload->'card'->>'card_token' FROM fraud_predictions ORDER BY event_id"
        ).fetchall()
    assert len(rows) == len(sent)
    for row, e in zip(rows, sorted(sent, key=lambda e: e.event_id), strict=True):
        assert row[0] == e.event_id
        assert row[1] == 2
        assert row[2] == e.card.merchant_category
        assert row[3] == e.feature_set_version
        assert row[4] == e.features
        assert row[5] == e.card.card_token
