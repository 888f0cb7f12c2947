"""Waiting between attempts, for everything fraudit retries: `Backoff` says how long to
wait before attempt n, `retry` runs an action until it succeeds or the budget (attempts,
seconds) is spent. Database connections, Kinesis reads, the demo's readiness waits use
`retry`; the Kinesis publisher and the simulator, whose attempts carry partial results,
use `Backoff` in loops of their own."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
Failure = type[BaseException] | tuple[type[BaseException], ...]


@dataclass
class Backoff:
    """Attempt n (from 0) waits min(cap, base * 2**n); with jitter (the default) a uniform
    draw below that, so retries from many clients spread out instead of arriving
    together."""

    base: float
    cap: float
    rng: random.Random = field(default_factory=random.Random)
    jitter: bool = True

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * 2**attempt)
        return self.rng.uniform(0, ceiling) if self.jitter else ceiling


def fixed(seconds: float) -> Backoff:
    """The same wait every time (polling something that is starting)."""
    return Backoff(seconds, seconds, jitter=False)


def retry(
    action: Callable[[], T],
    *,
    retry_on: Failure,
    backoff: Backoff,
    attempts: int | None = None,
    max_wait: float | None = None,
    on_failure: Callable[[BaseException, float | None], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`action()`, again after each `retry_on` failure, until it returns; the last failure
    is raised once `attempts` have been made or the next wait would end past `max_wait`
    seconds from the start. `on_failure(exc, wait)` hears of every failure: `wait` is the
    pause before the next attempt, None when giving up."""
    deadline = None if max_wait is None else clock() + max_wait
    attempt = 0
    while True:
        try:
            return action()
        except retry_on as exc:
            wait = backoff.delay(attempt)
            attempt += 1
            spent = (attempts is not None and attempt >= attempts) or (
                deadline is not None and clock() + wait > deadline
            )
            if on_failure is not None:
                on_failure(exc, None if spent else wait)
            if spent:
                raise
            sleep(wait)
