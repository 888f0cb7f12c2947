"""Kinesis (kinesalite) -> our Spark source -> process_batch -> PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from fraudit.stream.batch import process_batch
from fraudit.stream.kinesis_consumer import KinesisDataSource
from fraudit.stream.load import PostgresSink
from tests.support.stream_records import event_record

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def put(kinesis, stream, records):
    kinesis.put_records(
        StreamName=stream,
        Records=[
            {"Data": data, "PartitionKey": f"k{i % 5}"} for i, (data, *_) in enumerate(records)
        ],
    )


def run_until_caught_up(
    spark, url, stream, checkpoint, database, fail_once_after_commit=False, sink=None
):
    spark.dataSource.register(KinesisDataSource)
    sink = sink or PostgresSink(database)
    state = {"failed": False}

    def each_batch(batch, batch_id):
        process_batch(batch, batch_id, sink)
        if fail_once_after_commit and not state["failed"] and batch_id >= 1:
            state["failed"] = True  # the database committed; Spark never hears of it
            raise RuntimeError("injected crash after the sink committed")

    query = (
        spark.readStream.format("kinesis")
        .option("streamName", stream)
        .option("endpointUrl", url)
        .option("startingPosition", "TRIM_HORIZON")
        .option("maxRecordsPerTrigger", "25")
        .load()
        .writeStream.foreachBatch(each_batch)
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime="200 milliseconds")
        .start()
    )
    try:
        query.processAllAvailable()
    finally:
        query.stop()
        sink.close()
    return query


def counts(database):
    with psycopg.connect(database) as conn:
        return conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM fraud_predictions"
        ).fetchone()


def test_events_in_rows_out_and_restart_from_checkpoint(
    spark, kinesis_emulator, database, tmp_path
):
    stream = "elt-restart"
    kinesis_emulator.create_stream(stream, shards=2)
    kinesis = kinesis_emulator.client()
    put(kinesis, stream, [event_record(i) for i in range(60)])
    checkpoint = tmp_path / "checkpoint"
    run_until_caught_up(spark, kinesis_emulator.url, stream, checkpoint, database)
    assert counts(database) == (60, 60)

    put(kinesis, stream, [event_record(i) for i in range(60, 100)] + [(b"{bad", None, None, None)])
    with pytest.raises(Exception, match="injected crash"):
        run_until_caught_up(
            spark, kinesis_emulator.url, stream, checkpoint, database, fail_once_after_commit=True
        )
    run_until_caught_up(spark, kinesis_emulator.url, stream, checkpoint, database)
    assert counts(database) == (100, 100)  # the replayed batch added nothing
    with psycopg.connect(database) as conn:
        rejected = conn.execute(
            "SELECT count(*), min(reason) FROM fraud_predictions_rejected"
        ).fetchone()
        user = conn.execute(
            "SELECT user_id, decision FROM fraud_predictions WHERE event_id = 'ev-77'"
        ).fetchone()
    assert rejected[0] == 1
    assert rejected[1].startswith("unparseable JSON")
    from tests.support.stream_records import event

    assert user == (event(77).user_id, event(77).decision)


def test_available_now_reads_what_had_arrived_in_several_batches_then_stops(
    spark, kinesis_emulator, database, tmp_path
):
    stream = "elt-available-now"
    kinesis_emulator.create_stream(stream, shards=2)
    kinesis = kinesis_emulator.client()
    put(kinesis, stream, [event_record(i) for i in range(100)])
    spark.dataSource.register(KinesisDataSource)
    sink = PostgresSink(database)

    def run():
        query = (
            spark.readStream.format("kinesis")
            .option("streamName", stream)
            .option("endpointUrl", kinesis_emulator.url)
            .option("maxRecordsPerTrigger", "30")
            .load()
            .writeStream.foreachBatch(lambda b, i: process_batch(b, i, sink))
            .option("checkpointLocation", str(tmp_path / "checkpoint"))
            .trigger(availableNow=True)
            .start()
        )
        assert query.awaitTermination(120)  # it ends by itself
        return [p["numInputRows"] for p in query.recentProgress if p["numInputRows"]]

    assert run() == [30, 30, 30, 10]
    assert counts(database) == (100, 100)
    put(kinesis, stream, [event_record(i) for i in range(100, 120)])
    assert run() == [20]  # the next run takes up where the last one stopped
    assert counts(database) == (120, 120)
    sink.close()
