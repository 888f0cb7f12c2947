"""A live population's history counted into the online store before its first request:
each history row as the request the API would have received at the row's own time, parsed
by the API's contract and counted by the API's own steps in replay mode (what `fraudit
features rebuild` runs), with the card path held until it is done."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fraudit.contracts import CardPredictRequest
from fraudit.features.history import CardTransaction, from_request
from fraudit.online.rebuild import RebuildResult, count_transactions
from fraudit.online.store import Store
from fraudit.simulator.population import build_population
from fraudit.simulator.source import LiveCardSource


def history_transactions(source: LiveCardSource) -> Iterator[CardTransaction]:
    population = source.population
    arrival = population.rows.arrival
    for index in population.history_rows():
        request = CardPredictRequest.model_validate_json(source.payload(index))
        yield from_request(request, population.transaction_id(index), int(arrival.iat[index]))


def seed_store(
    store: Store, source: LiveCardSource, progress: Callable[[int, int], None] | None = None
) -> RebuildResult:
    """Count the population's history; a transaction the store already holds (a restart
    of the same population) is skipped."""
    return count_transactions(store, history_transactions(source), progress=progress)


def live_source(
    store: Store,
    *,
    cards: int,
    seed: int,
    seeded_days: float,
    fraud_within: float | None,
    say: Callable[[str], None],
    labels_out: Path | None = None,
    catch_up_seconds: float = 0.0,
) -> LiveCardSource:
    """Simulate the population, count its history into `store`, return its live traffic
    (its labels written to `labels_out`, CSV, first). With `catch_up_seconds`, the live
    traffic starts that long ago."""
    started = time.monotonic()
    say(f"simulating {cards:,} cards (seed {seed}) around now")
    live_from = datetime.now(UTC) - timedelta(seconds=catch_up_seconds)
    population = build_population(cards, seed, seeded_days, live_from, fraud_within=fraud_within)
    source = LiveCardSource(population)
    if labels_out is not None:
        labels_out.parent.mkdir(parents=True, exist_ok=True)
        population.live_labels().to_csv(labels_out, index=False)
        say(f"the live traffic's labels: {labels_out}")
    say(
        f"seeding the store with their last {seeded_days:g} day(s): "
        f"{population.first_live:,} transactions"
    )

    def report(read: int, counted: int) -> None:
        if read % 20_000 < 2_000:
            say(f"  {read:,}/{population.first_live:,} seeded")

    done = seed_store(store, source, report)
    say(
        f"seeded {done.counted:,} transactions ({done.transactions - done.counted:,} already "
        f"held) in {time.monotonic() - started:.0f} s; at their own rates the cards make "
        f"{population.real_rate:.2f} requests/s"
        + (f", after catching up {catch_up_seconds / 60:g} minutes" if catch_up_seconds else "")
    )
    return source
