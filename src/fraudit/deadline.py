"""A request's time budget: a point on the monotonic clock that every retry loop on the
request path respects, so the answer (a 503 when it must be) leaves before the Lambda
timeout turns it into API Gateway's bare 5xx. Pure."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

# How long a request waits for its family's candidate in shadow, from the start of scoring
# (never past its own deadline); a later answer is dropped (docs/MODELS.md).
DEFAULT_SHADOW_TIMEOUT = 0.5


@dataclass(frozen=True)
class Deadline:
    at: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    def allows(self, seconds: float) -> bool:
        """Whether something that may take `seconds` would end before the deadline."""
        return self.clock() + seconds <= self.at


def no_deadline() -> Deadline:
    return Deadline(float("inf"))
