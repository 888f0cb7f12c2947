"""A stop signal (SIGTERM, SIGINT) recorded, never raised at an arbitrary bytecode.

Raising KeyboardInterrupt from a signal handler fails in two ways we measured on the
`fraudit kinesis-emulator` command under load (docs/OPERATIONS.md, "Stopping"):
- raised inside an import (importlib runs a weakref callback while it holds a module lock),
  CPython prints "Exception ignored" and drops it: the signal is lost and the command keeps
  serving until it is killed, orphaning its children;
- raised inside code run by `exec(str)` (dataclasses, namedtuple) and then caught, CPython
  3.11 still marks the interpreter as interrupted and the process kills itself with SIGINT
  at exit (status -2) after a clean shutdown.

So the handler only records the request; the command polls it in its waits.
"""

from __future__ import annotations

import signal
import time
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """`stop = StopRequest.install()`, then `stop.wait(seconds)` or `stop.requested`."""

    def __init__(self) -> None:
        # A plain attribute: a handler that took a lock (threading.Event.set) could deadlock
        # against the main thread it interrupted while that thread held the same lock.
        self.signum: int | None = None

    @classmethod
    def install(cls) -> StopRequest:
        request = cls()
        for signum in STOP_SIGNALS:
            signal.signal(signum, request._record)
        return request

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def wait(self, seconds: float, poll: float = 0.1) -> bool:
        """Sleep up to `seconds`; True as soon as a stop was requested (within `poll`)."""
        deadline = time.monotonic() + seconds
        while not self.requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(poll, left))
        return True
