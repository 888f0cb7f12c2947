"""Idempotency records (pure): what a transaction_id's first request left in the store.

A record is either pending (`P<body hash>.<attempt>`: the first request is still being
answered) or done (`D<body hash><the 200 answer>`). A repeat with the same body gets the
first answer; with a different body, a 409; while the first is pending, it waits for it.

A done record is kept for the idempotency TTL (24 h by default), one per request with a
transaction_id, so it is compact: the answer is stored as the JSON list of its values in
PredictResponse's field order, without the event_id (the record's own key names it); the
body hash is 64 bits. Records written before (`D<32 hex>\\n<answer as a JSON object>`) are
still read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from fraudit.contracts import PredictResponse

PENDING, DONE = "P", "D"
# Hex digits of the body's SHA-256 kept: 64 bits tell apart the bodies sent under one
# transaction_id (a collision would need a second body crafted against the first's hash).
DIGEST_LENGTH = 16
_EVENT_ID = ("event_id",)


def _leaves(model: type[BaseModel], at: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths of a response model's values, in field order (nested models flattened)."""
    paths: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            paths += _leaves(kind, (*at, name))
        else:
            paths.append((*at, name))
    return paths


_PATHS = tuple(_leaves(PredictResponse))
# What a done record keeps of the answer, in order.
ANSWER_PATHS = tuple(p for p in _PATHS if p != _EVENT_ID)
# Fields added at the end of the answer since records were first kept (a record written
# before them holds fewer values; they were absent, so null).
_ADDED_LATER = sum(
    1
    for name, field in PredictResponse.model_fields.items()
    if name in ("rules", "reasons") and field.default is None
)


def body_hash(payload: object) -> str:
    """The request body's fingerprint: key order and whitespace do not matter."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:DIGEST_LENGTH]


def pending(digest: str, attempt: str = "") -> str:
    """The claim of one attempt: ABANDON removes only its own claim, never that of a
    concurrent duplicate with the same body."""
    return f"{PENDING}{digest}.{attempt}" if attempt else f"{PENDING}{digest}"


def done(digest: str, answer: dict[str, Any]) -> str:
    values = []
    for path in ANSWER_PATHS:
        value: Any = answer
        for name in path:
            value = value.get(name)  # an optional field may be left out: null
        values.append(value)
    return f"{DONE}{digest}{json.dumps(values, separators=(',', ':'))}"


def _answer(values: list[Any], event_id: str) -> dict[str, Any]:
    if len(ANSWER_PATHS) - _ADDED_LATER <= len(values) < len(ANSWER_PATHS):
        values = values + [None] * (len(ANSWER_PATHS) - len(values))
    if len(values) != len(ANSWER_PATHS):
        raise ValueError(f"a done record holds {len(values)} values, not {len(ANSWER_PATHS)}")
    kept = iter(values)
    answer: dict[str, Any] = {}
    for path in _PATHS:
        node = answer
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = event_id if path == _EVENT_ID else next(kept)
    return answer


@dataclass(frozen=True)
class Seen:
    digest: str
    answer: dict[str, Any] | None  # None while the first request is pending

    def same_body(self, digest: str) -> bool:
        return self.digest == digest[:DIGEST_LENGTH]


def parse_record(record: str, transaction_id: str) -> Seen:
    """The record kept under `transaction_id`."""
    if not record.startswith(DONE):
        return Seen(record[1:].split(".", 1)[0][:DIGEST_LENGTH], None)
    digest, newline, rest = record[1:].partition("\n")
    if newline:  # the earlier format: a full digest and the answer as an object
        return Seen(digest[:DIGEST_LENGTH], json.loads(rest))
    body = record[1:]
    return Seen(body[:DIGEST_LENGTH], _answer(json.loads(body[DIGEST_LENGTH:]), transaction_id))
