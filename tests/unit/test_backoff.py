"""The one retry helper: how long it waits, when it gives up, what it reports."""

from __future__ import annotations

import random

import pytest

from fraudit.backoff import Backoff, fixed, retry

pytestmark = pytest.mark.unit


class Flaky:
    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "done"


def test_backoff_doubles_up_to_its_cap_and_jitters_below_it():
    plain = Backoff(0.2, 5.0, jitter=False)
    assert [plain.delay(n) for n in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    jittered = Backoff(0.2, 5.0, random.Random(1))
    draws = [jittered.delay(n) for n in range(7)]
    assert all(0 <= d <= p for d, p in zip(draws, [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0], strict=True))
    assert draws != [plain.delay(n) for n in range(7)]


def test_retry_until_it_succeeds_reporting_each_wait():
    waits: list[float] = []
    heard: list[tuple[str, float | None]] = []
    action = Flaky(3)
    assert (
        retry(
            action,
            retry_on=ConnectionError,
            backoff=Backoff(0.1, 1.0, jitter=False),
            attempts=5,
            sleep=waits.append,
            on_failure=lambda exc, wait: heard.append((str(exc), wait)),
        )
        == "done"
    )
    assert action.calls == 4
    assert waits == [0.1, 0.2, 0.4]
    assert heard == [("failure 1", 0.1), ("failure 2", 0.2), ("failure 3", 0.4)]


def test_retry_gives_up_after_its_attempts_with_the_last_failure():
    heard: list[float | None] = []
    action = Flaky(10)
    with pytest.raises(ConnectionError, match="failure 3"):
        retry(
            action,
            retry_on=ConnectionError,
            backoff=fixed(0.5),
            attempts=3,
            sleep=lambda _: None,
            on_failure=lambda _, wait: heard.append(wait),
        )
    assert action.calls == 3
    assert heard == [0.5, 0.5, None]  # None: giving up


def test_retry_gives_up_when_the_next_wait_would_pass_the_deadline():
    now = [0.0]
    action = Flaky(10)
    with pytest.raises(ConnectionError):
        retry(
            action,
            retry_on=ConnectionError,
            backoff=fixed(1.0),
            max_wait=3.5,
            sleep=lambda s: now.__setitem__(0, now[0] + s),
            clock=lambda: now[0],
        )
    assert action.calls == 4  # at 0, 1, 2, 3 s; a wait to 4 s would pass 3.5


def test_other_errors_are_not_retried():
    action = Flaky(1, error=ValueError)
    with pytest.raises(ValueError, match="failure 1"):
        retry(
            action, retry_on=ConnectionError, backoff=fixed(0.1), attempts=5, sleep=lambda _: None
        )
    assert action.calls == 1
