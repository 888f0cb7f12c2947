"""Exponential backoff with full jitter, shared by everything fraudit retries."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Attempt n (from 0) waits uniform(0, min(cap, base * 2**n)): retries from many
    clients spread out instead of arriving together."""

    base: float
    cap: float
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        return self.rng.uniform(0, min(self.cap, self.base * 2 ** attempt))
