"""Resharding under a running job: split and merge shards while events keep arriving.
kinesalite cannot reshard; moto's server can, so this test runs against moto (a real HTTP
server the Spark driver talks to)."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import psycopg
import pytest

from fraudit.stream.local_job import StreamOptions, start
from tests.integration.test_stream_faults import row_count, wait_for
from tests.integration.test_stream_pipeline import counts
from tests.support.stream_records import event_record

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _route_to_open_shards(self, partition_key, explicit_hash_key):
    """What AWS does after a split or merge: a record goes to the *open* shard owning its
    hash key. moto 5.2 still routes to the closed parent (the first shard in its dict),
    which would leave the children empty and the reshard untested."""
    from hashlib import md5

    key = (
        int(explicit_hash_key)
        if explicit_hash_key
        else int(md5(partition_key.encode()).hexdigest(), 16)
    )  # MD5: how Kinesis hashes keys
    return next(
        (
            shard
            for shard in self.shards.values()
            if shard.is_open and shard.starting_hash <= key < shard.ending_hash
        ),
        None,
    )


@pytest.fixture
def moto_kinesis(monkeypatch):
    from moto.kinesis.models import Stream
    from moto.server import ThreadedMotoServer

    monkeypatch.setattr(Stream, "get_shard_for_key", _route_to_open_shards)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def put(kinesis, stream, first, count):
    for start_at in range(first, first + count, 50):
        kinesis.put_records(
            StreamName=stream,
            Records=[
                {"Data": event_record(i)[0], "PartitionKey": f"user-{i % 13}"}
                for i in range(start_at, min(start_at + 50, first + count))
            ],
        )


def open_shards(kinesis, stream):
    return [
        s
        for s in kinesis.list_shards(StreamName=stream)["Shards"]
        if "EndingSequenceNumber" not in s["SequenceNumberRange"]
    ]


def test_split_and_merge_while_running_lose_and_duplicate_nothing(
    spark, moto_kinesis, database, tmp_path
):
    stream = "elt-reshard"
    kinesis = boto3.client("kinesis", endpoint_url=moto_kinesis, region_name="us-east-1")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    put(kinesis, stream, 0, 100)
    options = StreamOptions(
        stream_name=stream,
        endpoint_url=moto_kinesis,
        region="us-east-1",
        starting_position="TRIM_HORIZON",
        starting_timestamp=None,
        trigger_interval="200 milliseconds",
        checkpoint_dir=Path(tmp_path / "checkpoint"),
        database_url=database,
        max_records_per_trigger=30,
    )
    query = start(spark, options)
    try:
        wait_for(lambda: row_count(database) >= 30)  # the job is mid-stream
        parent = open_shards(kinesis, stream)[0]
        low = int(parent["HashKeyRange"]["StartingHashKey"])
        high = int(parent["HashKeyRange"]["EndingHashKey"])
        kinesis.split_shard(
            StreamName=stream,
            ShardToSplit=parent["ShardId"],
            NewStartingHashKey=str((low + high) // 2),
        )
        put(kinesis, stream, 100, 100)  # lands in the children (and the untouched shard)
        time.sleep(1)
        children = [
            s for s in open_shards(kinesis, stream) if s.get("ParentShardId") == parent["ShardId"]
        ]
        assert len(children) == 2
        kinesis.merge_shards(
            StreamName=stream,
            ShardToMerge=children[0]["ShardId"],
            AdjacentShardToMerge=children[1]["ShardId"],
        )
        put(kinesis, stream, 200, 100)
        wait_for(lambda: row_count(database) == 300)
        query.processAllAvailable()
    finally:
        query.stop()
    assert counts(database) == (300, 300)
    with psycopg.connect(database) as conn:
        shards = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT split_part(source_position, ':', 1) FROM fraud_predictions"
            )
        }
        rejected = conn.execute("SELECT count(*) FROM fraud_predictions_rejected").fetchone()
        loaded = conn.execute("SELECT event_id, processed_at FROM fraud_predictions").fetchall()
    assert len(shards) == 5
    assert rejected == (0,)
    # Parents are read to their end before their children: each partition key's events
    # were loaded in the order they were put, across the split and the merge.
    by_key: dict[int, list] = {}
    for event_id, processed_at in loaded:
        i = int(event_id.removeprefix("ev-"))
        by_key.setdefault(i % 13, []).append((i, processed_at))
    for rows in by_key.values():
        times = [t for _, t in sorted(rows)]
        assert times == sorted(times)
