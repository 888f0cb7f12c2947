"""Live card traffic: a population of simulated cards transacting now, each at the rate its
habits give it (about 3 a day), with the simulator's fraud scenarios at their calibrated
shares, and the population's recent history already in the online store when the first
request is sent.

The simulator (`fraudit.data.card_simulation`) draws 30 days on the real calendar, ending
two days after today: the transactions dated before now are the history, those after now
are the live traffic, sent in event-time order. Only the last `seeded_days` of the history
are counted into the store (by the API's own steps, `fraudit.online.rebuild`): windows
longer than that see less than a real card's history (docs/FEATURES.md, "The demo's
population"). A live request is stamped with its own simulated time and never sent before
it (`fraudit.simulator.source.LiveCardSource`), so every card transacts at its own rate
whatever the pace: sending faster than `LivePopulation.real_rate` only catches up a live
start that lies in the past.

Each transaction keeps the id it has in the whole simulated period, so a restart of the same
population on the same day seeds and sends the same ids: the store skips what it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from fraudit.data.card_simulation import CardSimulationConfig, simulate
from fraudit.data.sparkov_profile import load_calibration
from fraudit.features.definitions import DAY

SIMULATED_DAYS = 30  # the simulator's shortest period
LIVE_DAYS = 2  # of them, after today's start: at least a day of live traffic
Progress = Callable[[str], None]
# How far the live start may move to meet the next fraud: a few hours of clock time.
MAX_LEAD = 6 * 3600.0


@dataclass(frozen=True)
class LivePopulation:
    cards: int
    seed: int
    seeded_days: float
    start: date  # the simulated period's first day
    now: float  # Unix seconds: history before, live traffic from
    rows: pd.DataFrame  # from now - seeded_days on, in event-time order
    first_live: int  # rows[first_live:] are dated at or after `now`
    transactions_per_card_day: float

    @property
    def real_rate(self) -> float:
        """Requests per second at which each card transacts at its simulated rate."""
        return self.cards * self.transactions_per_card_day / DAY

    @property
    def identity(self) -> str:
        return f"cards-live:{self.seed}:{self.cards}:{self.start.isoformat()}"

    def transaction_id(self, index: int) -> str:
        """Stable for the same population, seed and day (a restart reuses it)."""
        tx = str(self.rows.transaction_id.iat[index])
        return f"live-{self.seed}-{self.start:%Y%m%d}-{tx.removeprefix('tx_')}"

    def history_rows(self) -> Iterator[int]:
        return iter(range(self.first_live))

    def live_labels(self) -> pd.DataFrame:
        """What the simulator knows of its live traffic and the API never sees: each
        transaction's id as sent, its label and scenario (for checking what was caught)."""
        live = self.rows.iloc[self.first_live :]
        return pd.DataFrame(
            {
                "transaction_id": [
                    self.transaction_id(i) for i in range(self.first_live, len(self.rows))
                ],
                "simulated_time": live.event_time.to_numpy(),
                "is_fraud": live.is_fraud.to_numpy(),
                "scenario": live.scenario.to_numpy(),
            }
        )


def build_population(
    cards: int,
    seed: int,
    seeded_days: float,
    now: datetime | None = None,
    progress: Progress = lambda _: None,
    *,
    fraud_within: float | None = None,
) -> LivePopulation:
    """Simulate `cards` cards over the 30 days around now; keep the last `seeded_days` of
    their history and their live traffic. With `fraud_within` (seconds), the live traffic
    starts that long before the population's next fraud (a demo shows one early)."""
    if cards < 20:
        raise ValueError("a population needs at least 20 cards")
    if not 0 < seeded_days <= SIMULATED_DAYS - LIVE_DAYS:
        raise ValueError(f"seeded days must be in (0, {SIMULATED_DAYS - LIVE_DAYS}]")
    moment = now or datetime.now(UTC)
    start = (moment - timedelta(days=SIMULATED_DAYS - LIVE_DAYS)).date()
    calibration = load_calibration()
    per_card_day = CardSimulationConfig.model_fields["transactions_per_card_day"].default
    genuine = cards * SIMULATED_DAYS * per_card_day
    config = CardSimulationConfig(
        transactions=round(genuine / (1 - calibration.fraud_rate)),
        days=SIMULATED_DAYS,
        start=start,
        seed=seed,
    )
    at = moment.timestamp()
    rows = simulate(
        config, calibration, progress, keep_from=int(at - seeded_days * DAY)
    ).sort_values("event_time", kind="stable", ignore_index=True)
    if fraud_within is not None:
        # Start the live traffic `fraud_within` seconds before the next simulated fraud (at
        # most MAX_LEAD later): the whole period moves back by as much, so every card keeps
        # its own rate and only the clock hour of its habits moves.
        upcoming = rows.event_time[(rows.event_time >= at) & rows.is_fraud]
        if len(upcoming):
            lead = min(max(0.0, float(upcoming.iat[0]) - fraud_within - at), MAX_LEAD)
            rows["event_time"] = rows.event_time - round(lead)
            rows = rows[rows.event_time >= at - seeded_days * DAY].reset_index(drop=True)
    first_live = int((rows.event_time < at).sum())
    return LivePopulation(
        cards=cards,
        seed=seed,
        seeded_days=seeded_days,
        start=start,
        now=at,
        rows=rows,
        first_live=first_live,
        transactions_per_card_day=per_card_day,
    )
