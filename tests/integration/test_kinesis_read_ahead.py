"""The Kinesis source reads the next batch ahead while Spark processes the current one.
Against kinesalite, without Spark: the batches it returns must be exactly those a reader
without read-ahead returns (every record once, in shard order, never staler than a read
made when Spark asks)."""

from __future__ import annotations

import pytest

from fraudit.stream.kinesis_consumer import KinesisStreamReader

pytestmark = pytest.mark.integration


def _put(client, stream, first, count):
    client.put_records(
        StreamName=stream,
        Records=[
            {"Data": f"event-{i:05d}".encode(), "PartitionKey": f"k{i % 7}"}
            for i in range(first, first + count)
        ],
    )


def _reader(emulator, stream, limit):
    return KinesisStreamReader(
        {
            "streamName": stream,
            "endpointUrl": emulator.url,
            "startingPosition": "TRIM_HORIZON",
            "maxRecordsPerTrigger": str(limit),
        }
    )


def _drain(reader, offset):
    batches = []
    while True:
        rows, offset = reader.read(offset)
        rows = list(rows)
        if not rows:
            return batches, offset
        batches.append(rows)


def test_batches_read_ahead_hold_every_record_once_in_shard_order(kinesis_emulator):
    stream = "read-ahead-order"
    kinesis_emulator.create_stream(stream, shards=2)
    client = kinesis_emulator.client()
    _put(client, stream, 0, 95)
    reader = _reader(kinesis_emulator, stream, limit=30)
    first, offset = reader.read(reader.initialOffset())
    first = list(first)
    assert len(first) == 30
    _put(client, stream, 95, 40)  # arrives while the next batch is being read ahead
    rest, offset = _drain(reader, offset)
    rows = first + [r for batch in rest for r in batch]
    assert [len(b) for b in rest][:3] == [30, 30, 30]
    assert sum(map(len, rest)) == 105
    assert sorted(r[0] for r in rows) == [f"event-{i:05d}".encode() for i in range(135)]
    for shard in {r[1] for r in rows}:
        sequences = [int(r[2]) for r in rows if r[1] == shard]
        assert sequences == sorted(sequences)
    # The same range replayed from the logged offsets gives the same records.
    replay = KinesisStreamReader(reader.options)
    assert sorted(replay.readBetweenOffsets(reader.initialOffset(), offset)) == sorted(rows)


def test_a_batch_read_ahead_is_topped_up_with_records_that_arrived_since(kinesis_emulator):
    stream = "read-ahead-top-up"
    kinesis_emulator.create_stream(stream, shards=2)
    client = kinesis_emulator.client()
    _put(client, stream, 0, 10)
    reader = _reader(kinesis_emulator, stream, limit=100)
    rows, offset = reader.read(reader.initialOffset())
    assert len(list(rows)) == 10  # the read-ahead of the next batch now finds nothing
    _put(client, stream, 10, 25)
    rows, offset = reader.read(offset)
    assert sorted(r[0] for r in rows) == [f"event-{i:05d}".encode() for i in range(10, 35)]
    rows, _ = reader.read(offset)
    assert list(rows) == []


def test_a_read_from_another_offset_ignores_what_was_read_ahead(kinesis_emulator):
    stream = "read-ahead-other-start"
    kinesis_emulator.create_stream(stream, shards=1)
    _put(kinesis_emulator.client(), stream, 0, 20)
    reader = _reader(kinesis_emulator, stream, limit=5)
    start = reader.initialOffset()
    first, _ = reader.read(start)
    again, _ = reader.read(start)  # Spark asking for the same batch again
    assert list(again) == list(first)
