"""`fraudit features reap`: undo the counts of attempts that died unanswered.

A card request counts its transaction at BEGIN, before it is scored and published. If its
process dies before FINISH or ABANDON (a `kill -9`, a Lambda timeout, a lost host), the
count stays although no client was answered: the next transactions of the card would see
it. Every live BEGIN that counts registers its attempt (fraudit.online.plan.Attempt) until
FINISH or ABANDON takes it off; the reaper judges what is left, against the system of
record:
- the transaction's event is in PostgreSQL: it was answered and published (only FINISH
  failed or never ran); the count stays;
- its idempotency record says it was answered, or a retry holds its claim right now: the
  count stays (a claimed one is judged again on the next run);
- otherwise nobody was answered: the count is undone, exactly as ABANDON undoes it.

An attempt is judged only once the stream job has loaded events scored at least
`claim + grace` after it began: a request ends within its deadline (< CLAIM_TTL_SECONDS),
so by then an event it published is in PostgreSQL, with `grace` for the stream's lag
between shards. The register's clock is the store's, the scored_at clock the API's; both
are NTP time, and the grace dwarfs their drift.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fraudit.online.store import Store

# The newest scoring time the stream job has loaded, and which of some event ids are loaded.
LOADED_THROUGH_QUERY = "SELECT max(scored_at) FROM fraud_predictions"
RECORDED_QUERY = "SELECT event_id FROM fraud_predictions WHERE event_id = ANY(%(ids)s)"
# How far the stream job must have loaded past an attempt's end before it is judged.
DEFAULT_GRACE_SECONDS = 300
BATCH = 500


@dataclass(frozen=True)
class ReapResult:
    # Attempts began before this (ms since the epoch) were judged; None: the database has no
    # event yet, so none could be.
    began_before_ms: int | None
    outcomes: dict[str, int] = field(default_factory=dict)


def judged_before_ms(
    loaded_through: datetime | None, claim_seconds: float, grace_seconds: float
) -> int | None:
    """The register time before which attempts can be judged, given the newest scoring time
    the database holds."""
    if loaded_through is None:
        return None
    return int((loaded_through.timestamp() - claim_seconds - grace_seconds) * 1_000)


def reap(
    store: Store,
    recorded: Callable[[Sequence[str]], set[str]],
    began_before_ms: int | None,
    *,
    batch: int = BATCH,
    stop: Callable[[], bool] = lambda: False,
) -> ReapResult:
    """Judge every registered attempt begun before `began_before_ms`, `batch` at a time.
    `recorded(ids)`: which of the transaction ids are on record. `stop`: asked between
    batches (the operations task's time)."""
    outcomes: Counter[str] = Counter()
    if began_before_ms is None:
        return ReapResult(None, {})
    judged: set[str] = set()
    while not stop():
        attempts = [
            a
            for a in store.unfinished_attempts(began_before_ms, batch + len(judged))
            if a.register_text not in judged
        ][:batch]
        if not attempts:
            break
        on_record = recorded([a.transaction_id for a in attempts])
        keep = [a for a in attempts if a.transaction_id in on_record]
        undo = [a for a in attempts if a.transaction_id not in on_record]
        answers = store.settle_attempts(undo, keep)
        outcomes["on record"] += len(keep)
        outcomes.update(answers)
        # A claimed attempt stays registered (judged on a later run): not read again now.
        judged.update(a.register_text for a, o in zip(undo, answers, strict=True) if o == "claimed")
    return ReapResult(began_before_ms, {k: n for k, n in outcomes.items() if n})


def reap_with_database(
    store: Store,
    conn: Any,
    *,
    claim_seconds: float,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    stop: Callable[[], bool] = lambda: False,
) -> ReapResult:
    """The reaper against PostgreSQL's `fraud_predictions` (a psycopg connection)."""
    loaded_through = conn.execute(LOADED_THROUGH_QUERY).fetchone()[0]

    def recorded(ids: Sequence[str]) -> set[str]:
        rows = conn.execute(RECORDED_QUERY, {"ids": list(ids)}).fetchall()
        return {row[0] for row in rows}

    before = judged_before_ms(loaded_through, claim_seconds, grace_seconds)
    return reap(store, recorded, before, stop=stop)
