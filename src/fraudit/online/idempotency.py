"""Idempotency records (pure): what a transaction_id's first request left in the store.

A record is either pending (`P<body hash>.<attempt>`: the first request is still being
answered) or
done (`D<body hash>\\n<the 200 answer as JSON>`). A repeat with the same body gets the
first answer; with a different body, a 409; while the first is pending, it waits for it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

PENDING, DONE = "P", "D"


def body_hash(payload: object) -> str:
    """The request body's fingerprint: key order and whitespace do not matter."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def pending(digest: str, attempt: str = "") -> str:
    """The claim of one attempt: ABANDON removes only its own claim, never that of a
    concurrent duplicate with the same body."""
    return f"{PENDING}{digest}.{attempt}" if attempt else f"{PENDING}{digest}"


def done(digest: str, answer: dict[str, Any]) -> str:
    return f"{DONE}{digest}\n{json.dumps(answer, separators=(',', ':'))}"


@dataclass(frozen=True)
class Seen:
    digest: str
    answer: dict[str, Any] | None  # None while the first request is pending

    def same_body(self, digest: str) -> bool:
        return self.digest == digest


def parse_record(record: str) -> Seen:
    if record.startswith(DONE):
        digest, _, answer = record[1:].partition("\n")
        return Seen(digest, json.loads(answer))
    return Seen(record[1:].split(".", 1)[0], None)
