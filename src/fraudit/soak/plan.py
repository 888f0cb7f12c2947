"""What a soak run is: its load, its faults and its pass criteria. Pure: no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FaultKind = Literal["kill-stream", "restart-postgres"]
# The memory series a fault starts afresh: after a restart the JVM warms up again.
RESTARTED_PROCESS = {"kill-stream": "stream (Spark)"}


@dataclass(frozen=True)
class SoakConfig:
    minutes: float = 3.0
    rate: float = 50.0  # requests/s the simulator keeps up
    concurrency: int = 4
    out_dir: Path = Path("bench/results/soak")
    model_dir: Path = Path("models")
    trigger: str = "1 second"
    sample_every: float = 5.0  # seconds between memory samples
    window: float = 10.0  # seconds per point on the charts
    # The faults land in the first half so that the second half, where memory growth is
    # judged, is the steady state that follows them.
    kill_stream_at: float = 0.12  # fraction of the run
    restart_postgres_at: float = 0.3
    drain_timeout: float = 240.0  # seconds to wait for the last rows after the load
    max_rss_slope: float = 5.0  # MB/minute over the second half, per process
    # Over a short run's second half a garbage-collected heap (the JVM, Node) is still
    # settling: one collection more or less swings the fitted slope by more than 5 MB/min.
    # Shorter runs are held to a bound that still catches a gross leak, and a process the
    # run restarted is not judged at all (its second half is its warm-up).
    memory_judged_from_minutes: float = 20.0
    short_run_max_rss_slope: float = 50.0
    max_error_rate: float = 0.001  # share of requests not answered 200 in the end

    def __post_init__(self) -> None:
        if self.minutes <= 0 or self.rate <= 0 or self.concurrency < 1:
            raise ValueError("minutes and rate must be > 0 and concurrency >= 1")
        if not 0 < self.kill_stream_at < 1 or not 0 < self.restart_postgres_at < 1:
            raise ValueError("fault times are fractions of the run, between 0 and 1")

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    @property
    def rss_slope_limit(self) -> float:
        return (
            self.max_rss_slope
            if self.minutes >= self.memory_judged_from_minutes
            else self.short_run_max_rss_slope
        )

    @property
    def requests(self) -> int:
        """Rows the replay needs, with room for a simulator running slightly fast."""
        return math.ceil(self.seconds * self.rate * 1.05) + 100


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the load starts
    kind: FaultKind


def fault_schedule(config: SoakConfig) -> list[Fault]:
    faults = [
        Fault(config.seconds * config.kill_stream_at, "kill-stream"),
        Fault(config.seconds * config.restart_postgres_at, "restart-postgres"),
    ]
    return sorted(faults, key=lambda f: f.at)
