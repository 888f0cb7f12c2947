"""What a soak run is: its load, its faults and its pass criteria. Pure: no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fraudit.families import family
from fraudit.features.reference import rank_key

FaultKind = Literal["kill-stream", "restart-postgres", "slow-redis", "restart-redis"]
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
    # Card transactions (the default) go through the online store, which the run restarts
    # (a Redis without persistence loses everything) and rebuilds from PostgreSQL.
    dataset: str = "cards"  # whose traffic: a model family's name (fraudit.families)
    restart_redis_at: float = 0.45
    # Redis answering later than the API's timeout for a while (every reply held back):
    # the steps run, the API times out, fences and undoes them; afterwards the store must
    # hold exactly what the rows name.
    slow_redis_at: float = 0.38
    slow_redis_seconds: float = 4.0
    slow_redis_reply_delay: float = 1.0  # beyond FRAUDIT_REDIS_TIMEOUT_SECONDS (0.5)
    drain_timeout: float = 240.0  # seconds to wait for the last rows after the load
    max_rss_slope: float = 5.0  # MB/minute over the second half, per process
    # Over a short run's second half a garbage-collected heap (the JVM, Node) is still
    # settling: one collection more or less swings the fitted slope by more than 5 MB/min.
    # Shorter runs are held to a bound that still catches a gross leak, and a process the
    # run restarted is not judged at all (its second half is its warm-up).
    memory_judged_from_minutes: float = 20.0
    short_run_max_rss_slope: float = 50.0
    max_error_rate: float = 0.001  # share of requests not answered 200 in the end
    # The answered rate of the run's last fifth against its first: main's card soak fell
    # from 100 to about 37 requests/s over 25 minutes, every card's window filling up.
    min_rate_held: float = 0.9
    rate_judged_from_minutes: float = 10.0

    def __post_init__(self) -> None:
        if self.minutes <= 0 or self.rate <= 0 or self.concurrency < 1:
            raise ValueError("minutes and rate must be > 0 and concurrency >= 1")
        at = (
            self.kill_stream_at,
            self.restart_postgres_at,
            self.restart_redis_at,
            self.slow_redis_at,
        )
        family(self.dataset)  # a ValueError naming the families for an unknown one
        if not all(0 < fraction < 1 for fraction in at):
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
    if family(config.dataset).counts_history:  # its requests go through the online store
        faults.append(Fault(config.seconds * config.slow_redis_at, "slow-redis"))
        faults.append(Fault(config.seconds * config.restart_redis_at, "restart-redis"))
    return sorted(faults, key=lambda f: f.at)


@dataclass(frozen=True)
class StoreCheck:
    """The online store after the run against a recomputation from PostgreSQL's rows: per
    entity key, the transactions it counts (each once) and the rows that name it."""

    keys: int
    mismatched: int  # keys whose transactions differ from the rows'
    examples: list[str]  # a few of them
    counted_twice: int  # transactions held twice under one key

    @property
    def ok(self) -> bool:
        return self.mismatched == 0 and self.counted_twice == 0


def latest(members: Iterable[tuple[float, str]], keep: int) -> set[str]:
    """Of an entity's `(event time, transaction id)` pairs, the ids of the `keep` its set
    keeps (the latest-dated: rule 8's order). Pure."""
    ranked = sorted(members, key=lambda m: rank_key(*m), reverse=True)
    return {transaction_id for _, transaction_id in ranked[:keep]}


def check_store(
    held: dict[str, list[str]], expected: dict[str, set[str]], examples: int = 5
) -> StoreCheck:
    """`held`: each store key's transaction ids (one per member); `expected`: the ids the
    rows give each key. Pure."""
    twice = sum(len(ids) - len(set(ids)) for ids in held.values())
    keys = set(held) | set(expected)
    mismatched = sorted(k for k in keys if set(held.get(k, ())) != expected.get(k, set()))
    return StoreCheck(len(keys), len(mismatched), mismatched[:examples], twice)
