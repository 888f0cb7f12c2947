"""Pipelined loading (stream/pipeline.py): Spark commits batch N before PostgreSQL has
it, so the database's record of loaded batches must bring back any batch that was
committed but never loaded. Real Spark, kinesalite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from fraudit.stream.load import PostgresSink
from fraudit.stream.local_job import StreamOptions, start
from fraudit.stream.pipelined import checkpoint_key, trim_checkpoint
from tests.integration.test_stream_pipeline import counts, put
from tests.support.stream_records import event_record

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_trim_checkpoint_forgets_commits_beyond_the_loaded_batch(tmp_path):
    for folder, ids in (("offsets", range(4)), ("commits", range(3))):
        (tmp_path / folder).mkdir()
        for i in ids:
            (tmp_path / folder / str(i)).write_text("v1")
            (tmp_path / folder / f".{i}.crc").write_text("crc")
    (tmp_path / "metadata").write_text("{}")
    assert trim_checkpoint(tmp_path, loaded=0) == [1, 2]
    assert sorted(p.name for p in (tmp_path / "commits").iterdir()) == [".0.crc", "0"]
    assert sorted(p.name for p in (tmp_path / "offsets").iterdir()) == [
        ".0.crc",
        ".1.crc",
        "0",
        "1",
    ]  # batch 1 is replayed from its logged offsets
    assert (tmp_path / "metadata").exists()
    assert trim_checkpoint(tmp_path, loaded=0) == []  # idempotent


class DiesBeforeLoading(PostgresSink):
    """Stands for a process that dies while batch 1 is being written: the write never
    reaches the database, but Spark has already committed batch 1 (the write waits for
    Spark's commit file, then fails)."""

    died = False

    def __init__(self, url, checkpoint):
        super().__init__(url)
        self._spark_commit = checkpoint / "commits" / "1"

    def load(self, batch, progress=None):
        if progress and progress[1] == 1 and not DiesBeforeLoading.died:
            DiesBeforeLoading.died = True
            deadline = time.monotonic() + 30
            while not self._spark_commit.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            raise RuntimeError("injected: the job died before batch 1 was loaded")
        return super().load(batch, progress)


def options(kinesis_emulator, stream, checkpoint: Path, database: str) -> StreamOptions:
    return StreamOptions(
        stream_name=stream,
        endpoint_url=kinesis_emulator.url,
        region="us-east-1",
        starting_position="TRIM_HORIZON",
        starting_timestamp=None,
        trigger_interval="200 milliseconds",
        checkpoint_dir=checkpoint,
        database_url=database,
        max_records_per_trigger=20,
    )


def loaded_batch(database, checkpoint):
    with psycopg.connect(database) as conn:
        return conn.execute(
            "SELECT batch_id FROM fraud_stream_progress WHERE checkpoint = %s",
            (checkpoint_key(checkpoint),),
        ).fetchone()[0]


def test_a_batch_committed_by_spark_but_never_loaded_is_replayed(
    spark, kinesis_emulator, database, tmp_path, caplog
):
    stream = "elt-pipelined-crash"
    kinesis_emulator.create_stream(stream, shards=2)
    put(kinesis_emulator.client(), stream, [event_record(i) for i in range(70)])
    checkpoint = tmp_path / "checkpoint"
    opts = options(kinesis_emulator, stream, checkpoint, database)

    query = start(spark, opts, sink=DiesBeforeLoading(database, checkpoint))
    with pytest.raises(Exception, match="died before batch 1 was loaded"):
        query.awaitTermination(120)
    query.stop()
    # Spark committed batch 1 (and planned 2); the database holds batch 0 only.
    assert (checkpoint / "commits" / "1").exists()
    assert loaded_batch(database, checkpoint) == 0
    assert counts(database) == (20, 20)

    caplog.set_level("WARNING", logger="fraudit.stream.pipelined")
    query = start(spark, opts)
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    assert counts(database) == (70, 70)  # batch 1 replayed, nothing twice
    assert loaded_batch(database, checkpoint) >= 3
    assert any("replaying" in r.getMessage() for r in caplog.records)


def test_stop_waits_for_the_last_batch_and_a_restart_adds_nothing(
    spark, kinesis_emulator, database, tmp_path
):
    stream = "elt-pipelined-stop"
    kinesis_emulator.create_stream(stream, shards=2)
    put(kinesis_emulator.client(), stream, [event_record(i) for i in range(45)])
    checkpoint = tmp_path / "checkpoint"
    opts = options(kinesis_emulator, stream, checkpoint, database)
    query = start(spark, opts)
    query.processAllAvailable()
    assert counts(database) == (45, 45)  # visible when processAllAvailable returns
    query.stop()
    batches = loaded_batch(database, checkpoint)
    query = start(spark, opts)  # nothing to trim, nothing to replay
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    assert counts(database) == (45, 45)
    assert loaded_batch(database, checkpoint) == batches


def _checkpoint_files(folder: Path, offsets: range, commits: range) -> None:
    for name, ids in (("offsets", offsets), ("commits", commits)):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in ids:
            (folder / name / str(i)).write_text("v1")


def test_prepare_trusts_a_synchronous_checkpoint_and_resets_a_new_one(database, tmp_path):
    from fraudit.stream.pipelined import prepare_checkpoint

    legacy = tmp_path / "legacy"
    _checkpoint_files(legacy, range(3), range(3))
    assert prepare_checkpoint(database, legacy) == 2  # no progress row: loaded before commit
    assert sorted(p.name for p in (legacy / "commits").iterdir()) == ["0", "1", "2"]

    fresh = tmp_path / "fresh"
    with psycopg.connect(database) as conn:  # a row left by an older checkpoint at this path
        conn.execute(
            "INSERT INTO fraud_stream_progress (checkpoint, batch_id) VALUES (%s, 57)",
            (checkpoint_key(fresh),),
        )
    assert prepare_checkpoint(database, fresh) == -1
    _checkpoint_files(fresh, range(2), range(2))  # Spark committed 0 and 1, nothing loaded
    assert prepare_checkpoint(database, fresh) == -1
    assert not any((fresh / "commits").iterdir())  # both replayed
    assert sorted(p.name for p in (fresh / "offsets").iterdir()) == ["0"]


def test_prepare_waits_for_a_database_that_is_still_starting(private_postgres, tmp_path, caplog):
    import threading

    from fraudit.stream.pipelined import prepare_checkpoint

    caplog.set_level("WARNING", logger="fraudit.stream.pipelined")
    private_postgres.stop("fast")
    starter = threading.Timer(3.0, private_postgres.start)
    starter.start()
    try:
        assert prepare_checkpoint(private_postgres.url, tmp_path / "checkpoint") == -1
    finally:
        starter.join()
    assert any("unavailable" in r.getMessage() for r in caplog.records)


class RefusesEverything(PostgresSink):
    def load(self, batch, progress=None):
        raise RuntimeError("injected: the database refuses the batch")


def test_a_failed_write_stops_the_query_even_when_no_batch_follows(
    spark, kinesis_emulator, database, tmp_path
):
    stream = "elt-pipelined-idle-failure"
    kinesis_emulator.create_stream(stream, shards=1)
    put(kinesis_emulator.client(), stream, [event_record(i) for i in range(5)])  # one batch
    query = start(
        spark,
        options(kinesis_emulator, stream, tmp_path / "checkpoint", database),
        sink=RefusesEverything(database),
    )
    with pytest.raises(RuntimeError, match="refuses the batch"):
        query.awaitTermination(60)  # returns because the writer stopped the query
    assert not query.isActive
