"""The running stream job against faults: PostgreSQL restarted under it, a crash inside
the sink's transaction. Kinesis is kinesalite on loopback; the database a private cluster."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from fraudit.stream.load import PostgresSink
from fraudit.stream.local_job import StreamOptions, start
from tests.integration.test_stream_pipeline import counts, put, run_until_caught_up
from tests.support.stream_records import event_record

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def wait_for(predicate, timeout=120.0, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError("condition not reached in time")


def row_count(url):
    try:
        return counts(url)[0]
    except psycopg.Error:  # down, or the job has not created its tables yet
        return -1


def test_postgres_restarted_while_the_job_runs_loses_nothing(
    spark, kinesis_emulator, private_postgres, tmp_path, caplog
):
    caplog.set_level("WARNING", logger="fraudit.stream.load")
    stream = "elt-pg-restart"
    kinesis_emulator.create_stream(stream, shards=2)
    kinesis = kinesis_emulator.client()
    put(kinesis, stream, [event_record(i) for i in range(80)])
    options = StreamOptions(
        stream_name=stream,
        endpoint_url=kinesis_emulator.url,
        region="us-east-1",
        starting_position="TRIM_HORIZON",
        starting_timestamp=None,
        trigger_interval="200 milliseconds",
        checkpoint_dir=Path(tmp_path / "checkpoint"),
        database_url=private_postgres.url,
        max_records_per_trigger=20,
    )
    query = start(spark, options)
    try:
        wait_for(lambda: row_count(private_postgres.url) == 80)
        private_postgres.stop("fast")  # the job's connection is cut
        put(kinesis, stream, [event_record(i) for i in range(80, 160)])
        time.sleep(4)  # several triggers' worth: the job is retrying its batch
        assert query.isActive
        assert query.exception() is None
        private_postgres.start()
        wait_for(lambda: row_count(private_postgres.url) == 160)
        query.processAllAvailable()
    finally:
        query.stop()
    assert counts(private_postgres.url) == (160, 160)
    retries = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert retries, "the job should have retried while PostgreSQL was down"


class CrashingSink(PostgresSink):
    """Fails once inside the batch's transaction, after the rows, rollups and alerts were
    written and before the commit: the database must roll the whole batch back."""

    crashed = False

    def _roll_up_and_alert(self, conn, loaded):
        result = super()._roll_up_and_alert(conn, loaded)
        if loaded.inserted and not CrashingSink.crashed:
            CrashingSink.crashed = True
            raise RuntimeError("injected crash inside the sink")
        return result


def test_crash_inside_the_sink_mid_batch_then_restart(spark, kinesis_emulator, database, tmp_path):
    stream = "elt-sink-crash"
    kinesis_emulator.create_stream(stream, shards=2)
    put(kinesis_emulator.client(), stream, [event_record(i) for i in range(70)])
    checkpoint = tmp_path / "checkpoint"
    sink = CrashingSink(database)
    with pytest.raises(Exception, match="injected crash inside the sink"):
        run_until_caught_up(spark, kinesis_emulator.url, stream, checkpoint, database, sink=sink)
    assert counts(database) == (0, 0)  # the crashed batch left nothing behind
    run_until_caught_up(spark, kinesis_emulator.url, stream, checkpoint, database)
    assert counts(database) == (70, 70)
