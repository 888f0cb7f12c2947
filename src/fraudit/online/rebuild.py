"""`fraudit features rebuild`: the online store restored from PostgreSQL's rows, after Redis
lost its data (a restart without persistence, a failover, a flush).

Every card transaction recorded within the store's retention of the newest one is counted
again, with the arrival number each entity first gave it (`card.store_arrivals` of its
event; events written before per-entity numbers carry one, `card.store_arrival`, which
then serves every entity), by the API's own steps in replay mode (no idempotency record,
nothing read). A transaction an entity still holds is skipped by that entity's step, so a
rebuild is safe to repeat and to run on a store that lost nothing; the order of the rows
does not matter, since each carries its numbers. Transactions still on their way through
the stream are not in PostgreSQL yet: run the rebuild once the stream job has caught up, or
again after it has. Their numbers are never given again: a counter lost with its data
restarts at the server's clock in ms, past every number it gave (scripts.ENTITY).

Safe while traffic flows: the rebuild raises a marker for its duration (refreshed per
batch, gone within MARKER_TTL_SECONDS if the rebuild dies), and while it is up the card
path answers 503 `recorded: no` (the ULB path goes on): a card transaction would otherwise
be scored on a partial history.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fraudit.db.sql import CARD_EVENTS_TO_RECOUNT
from fraudit.features.definitions import Entity
from fraudit.features.history import CardTransaction, from_stored_event
from fraudit.online.plan import BeginCall
from fraudit.online.store import Store, StoreUnavailable

# How long the rebuild's marker outlives its last batch (a rebuild that died frees the card
# path within this), and how far past the highest replayed number new transactions start:
MARKER_TTL_SECONDS = 120


@dataclass(frozen=True)
class RebuildResult:
    transactions: int  # rows read
    counted: int  # counted again (the rest the store still held)
    # The last row's event_id (rows come in event_id order).
    last_event_id: str
    # False: it paused when asked to (`stop`), with the card path still held; resume with
    # rows after `last_event_id`.
    finished: bool = True


def rebuild(
    store: Store,
    rows: Iterator[tuple[Any, ...]],
    *,
    batch: int = 2_000,
    progress: Callable[[int, int], None] | None = None,
    stop: Callable[[], bool] | None = None,
    after: str = "",
) -> RebuildResult:
    """Count `rows` (CARD_EVENTS_TO_RECOUNT's) into `store`, `batch` per round trip, with live card
    transactions held off until it is done. `stop`, asked after each batch: pause there (a
    piece of a rebuild run in parts, each within a time limit, such as the operations
    task's Lambda invocations); the marker stays up for the next part, which passes the
    paused result's `last_event_id` as `after` (and reads rows after it)."""
    return count_transactions(
        store,
        (from_stored_event(row) for row in rows),
        batch=batch,
        progress=progress,
        stop=stop,
        after=after,
    )


def count_transactions(
    store: Store,
    transactions: Iterator[CardTransaction],
    *,
    batch: int = 2_000,
    progress: Callable[[int, int], None] | None = None,
    stop: Callable[[], bool] | None = None,
    after: str = "",
) -> RebuildResult:
    """Count `transactions` into `store` by the API's own steps in replay mode (each with
    its arrival number in every entity), as `rebuild` does: also how a demo's simulated
    history is seeded before its first request."""
    read = counted = 0
    last = after
    pending: list[BeginCall] = []

    def flush() -> None:
        nonlocal counted
        store.hold_card_path(MARKER_TTL_SECONDS)
        answers = store.begin_many(pending)
        for answer in answers:
            if isinstance(answer, StoreUnavailable):
                raise answer  # refused (out of memory): the rebuild cannot complete
            counted += int(answer.added)
        pending.clear()
        if progress:
            progress(read, counted)

    store.hold_card_path(MARKER_TTL_SECONDS)
    paused = False
    try:
        for tx in transactions:
            read += 1
            last = tx.transaction_id
            pending.append(
                store.begin_call(
                    tx.transaction_id,
                    tx=tx,
                    read=False,
                    arrivals={entity: tx.arrival_in(entity) for entity in Entity},
                )
            )
            if len(pending) >= batch:
                flush()
                if stop is not None and stop():
                    paused = True
                    return RebuildResult(read, counted, last, finished=False)
        if pending:
            flush()
    finally:
        if not paused:
            with contextlib.suppress(StoreUnavailable):  # else it expires by itself
                store.release_card_path()
    return RebuildResult(read, counted, last)


def rows_to_rebuild(
    conn: Any, retention_seconds: float, after: str = ""
) -> Iterator[tuple[Any, ...]]:
    """CARD_EVENTS_TO_RECOUNT's rows (those numbered after `after`) through a server-side cursor
    (never all in memory)."""
    with conn.cursor(name="fraudit_rebuild") as cursor:
        cursor.itersize = 5_000
        cursor.execute(CARD_EVENTS_TO_RECOUNT, {"seconds": retention_seconds, "after": after})
        yield from cursor
