"""Each test's keys on the machine's Redis live under a prefix of their own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from fraudit.online.redis_store import clear_prefix, connect

REDIS_URL = "redis://127.0.0.1:6379/0"
# Prefixes handed out to stores of this session: cleared when the session ends.
ISSUED: list[str] = []


def new_prefix() -> str:
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    ISSUED.append(prefix)
    return prefix


def clear_issued() -> None:
    client = connect(REDIS_URL, 5.0)
    while ISSUED:
        clear_prefix(client, ISSUED.pop())


@contextmanager
def own_prefix() -> Iterator[str]:
    """A fresh key prefix, its keys deleted afterwards."""
    prefix = new_prefix()
    try:
        yield prefix
    finally:
        clear_prefix(connect(REDIS_URL, 5.0), prefix)
