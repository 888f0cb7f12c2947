"""Pure offset logic of the Kinesis source: where to start each shard, which shards may be
read now (parents before children), and record positions compared as integers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Kinesis's names of where a new reader starts: the oldest record kept, the newest, a time.
TRIM_HORIZON = "TRIM_HORIZON"
LATEST = "LATEST"
AT_TIMESTAMP = "AT_TIMESTAMP"
STARTING_POSITIONS = (TRIM_HORIZON, LATEST, AT_TIMESTAMP)


def shard_entry(start: str, after: str | None = None, done: bool = False) -> dict[str, Any]:
    """`start`: TRIM_HORIZON or ts:<epoch ms>; `after`: last sequence number read."""
    return {"from": start, "after": after, "done": done}


def iterator_args(entry: Mapping[str, Any]) -> dict[str, Any]:
    """get_shard_iterator arguments that resume exactly after what was read."""
    if entry.get("after"):
        return {
            "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
            "StartingSequenceNumber": entry["after"],
        }
    if str(entry["from"]).startswith("ts:"):
        return {"ShardIteratorType": AT_TIMESTAMP, "Timestamp": int(entry["from"][3:]) / 1000.0}
    return {"ShardIteratorType": TRIM_HORIZON}


def seq_le(a: str, b: str) -> bool:
    """Kinesis sequence numbers are decimal strings of varying length: compare as integers."""
    return int(a) <= int(b)


def add_new_shards(
    offsets: dict[str, dict[str, Any]], shards: Iterable[Mapping[str, Any]], initial_start: str
) -> dict[str, dict[str, Any]]:
    """Shards seen for the first time: children of known shards start at TRIM_HORIZON
    (everything written to them came after their parents); others at the initial start."""
    out = {k: dict(v) for k, v in offsets.items()}
    for shard in shards:
        shard_id = shard["ShardId"]
        if shard_id in out:
            continue
        parents = [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]
        start = TRIM_HORIZON if any(p in out for p in parents) else initial_start
        out[shard_id] = shard_entry(start)
    return out


def readable(
    offsets: Mapping[str, Mapping[str, Any]], shards: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Shards to read now: not finished, and every parent we know of read to its end, so a
    key's records stay in order across a reshard."""
    out = []
    for shard in shards:
        entry = offsets.get(shard["ShardId"])
        if entry is None or entry.get("done"):
            continue
        parents = [
            p
            for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
            if p and p in offsets
        ]
        if all(offsets[p].get("done") for p in parents):
            out.append(shard["ShardId"])
    return sorted(out)


def ending_sequence(shard: Mapping[str, Any]) -> str | None:
    """A closed shard's last sequence number (None while the shard is open)."""
    ending = shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
    return None if ending is None else str(ending)


def read_through(entry: Mapping[str, Any], ending: str | None) -> bool:
    """Whether a closed shard has been read through its last record. AWS also says so with
    a null NextShardIterator; emulators that never do (moto) are caught by this."""
    return bool(ending and entry.get("after") and seq_le(ending, entry["after"]))
