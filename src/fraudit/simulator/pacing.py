"""A steady request rate shared by several sender threads. The clock and the sleep are
injected so the schedule is tested without waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    """Grants slot k at start + k / rate: the average rate holds over the run, and a slow
    request does not shift the slots after it (no drift). rate <= 0 means unthrottled."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._start: float | None = None
        self._granted = 0

    def wait(self) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            if self._start is None:
                self._start = now
            due = self._start + self._granted / self.rate
            if due < now - 1.0:
                # Far behind (a pause, a stall): restart the schedule rather than burst.
                self._start, self._granted, due = now, 0, now
            self._granted += 1
        delay = due - now
        if delay > 0:
            self._sleep(delay)
