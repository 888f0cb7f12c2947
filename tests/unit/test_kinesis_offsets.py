from __future__ import annotations

import pytest

from fraudit.stream.kinesis_offsets import (
    add_new_shards,
    iterator_args,
    readable,
    seq_le,
    shard_entry,
)

pytestmark = pytest.mark.unit


def test_sequence_numbers_compare_as_integers():
    assert seq_le("9", "10")
    assert not seq_le("10", "9")
    assert seq_le(
        "49680444276783417360418690403239193358739250355313311762",
        "49680444276783417360418690403239193358739250355313311763",
    )


def test_resume_exactly_after_the_last_record_read():
    assert iterator_args(shard_entry("TRIM_HORIZON", after="42")) == {
        "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
        "StartingSequenceNumber": "42",
    }
    assert iterator_args(shard_entry("TRIM_HORIZON")) == {"ShardIteratorType": "TRIM_HORIZON"}
    assert iterator_args(shard_entry("ts:1500"))["Timestamp"] == 1.5


def test_children_wait_for_their_parents_and_start_at_trim_horizon():
    parent = {"ShardId": "p"}
    left = {"ShardId": "c1", "ParentShardId": "p"}
    merged = {"ShardId": "m", "ParentShardId": "c1", "AdjacentParentShardId": "c2"}
    right = {"ShardId": "c2", "ParentShardId": "p"}
    offsets = add_new_shards({}, [parent], "ts:99")
    assert offsets["p"]["from"] == "ts:99"
    offsets = add_new_shards(offsets, [parent, left, right], "ts:99")
    assert offsets["c1"]["from"] == "TRIM_HORIZON"
    assert readable(offsets, [parent, left, right]) == ["p"]
    offsets["p"]["done"] = True
    assert readable(offsets, [parent, left, right]) == ["c1", "c2"]
    offsets = add_new_shards(offsets, [merged], "ts:99")
    offsets["c1"]["done"] = True
    assert readable(offsets, [left, right, merged]) == ["c2"]  # m waits for c2 too
    offsets["c2"]["done"] = True
    assert readable(offsets, [left, right, merged]) == ["m"]


def test_a_closed_shard_is_read_through_when_its_last_record_was_read():
    from fraudit.stream.kinesis_offsets import ending_sequence, read_through

    closed = {
        "ShardId": "s0",
        "SequenceNumberRange": {
            "StartingSequenceNumber": "49600000000000000000000000000000000000000000000000000000",
            "EndingSequenceNumber": "49600000000000000000000000000000000000000000000000000999",
        },
    }
    open_shard = {"ShardId": "s1", "SequenceNumberRange": {"StartingSequenceNumber": "1"}}
    ending = ending_sequence(closed)
    assert ending_sequence(open_shard) is None
    assert not read_through({"after": None}, ending)
    assert not read_through(
        {"after": "4960000000000000000000000000000000000000000000000000099"}, ending
    )  # shorter string, smaller number: not through
    assert read_through({"after": ending}, ending)
    assert not read_through({"after": "7"}, None)  # open shards are never through
