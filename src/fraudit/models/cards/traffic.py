"""The card family's traffic: a simulated card population live, each transaction at its own
time (`fraudit simulate --dataset cards`, the demo), or a card history replayed (`--data`,
the soak)."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

from fraudit.families import DemoTraffic
from fraudit.settings import Settings
from fraudit.simulator.source import CardReplaySource, Traffic, load_card_history

# The demo's live traffic: its last hour is sent at once (each transaction at its own time,
# at most DEMO_CATCH_UP_RATE a second), so the dashboard has something to show within two
# minutes, and it starts a minute before the population's next fraud.
DEMO_CATCH_UP_MINUTES = 60
DEMO_CATCH_UP_RATE = 50.0  # a cap: no transaction is sent before its own time
LIVE_LABELS_FILE = "live-labels.csv"


def simulate(args: Namespace, settings: Settings, say: Callable[[str], None]) -> Traffic:
    if args.data is None:
        from fraudit.online.redis_store import store_from_settings
        from fraudit.simulator.seed import live_source

        source = live_source(
            store_from_settings(settings),
            cards=args.cards,
            seed=args.seed,
            seeded_days=args.seeded_days,
            fraud_within=args.fraud_within,
            say=say,
            labels_out=args.labels_out,
            catch_up_seconds=args.catch_up * 60,
        )
        return Traffic(source, live_from=source.population.first_live)
    say(
        f"replaying {args.data} with each transaction stamped when sent: every card's "
        "history compressed to the replay's pace (velocity features and rules fire "
        "far more than on real traffic)"
    )
    rows = load_card_history(args.data, args.last)
    return Traffic(CardReplaySource(rows, args.data.name, args.seed, args.timestamps))


def soak_source(
    args: Namespace, settings: Settings, requests: int, out: Path, say: Callable[[str], None]
) -> CardReplaySource:
    """A population whose cards each hold about a real card's month (30 simulated days at
    about 3 a day), as many transactions as the run sends. A replay that lapped 50,000
    transactions of 45 cards filled each card's window up to ~1,900 members, and the soak's
    rate fell from 100 to about 37 requests/s."""
    from fraudit.models.cards.from_scratch import simulate_history

    history = args.data or out / "replay.parquet"
    if args.data is None:
        simulate_history(history, requests, seed=8, days=30, say=say)
    return CardReplaySource(load_card_history(history), history.name, args.seed)


def demo_simulator(
    common: list[str], *, home: Path, seed: int, rate: float | None, redis: dict[str, str]
) -> DemoTraffic:
    """First: it simulates the population and seeds the store while the models train and the
    others start, then waits for the API."""
    live = [
        *common,
        "--dataset",
        "cards",
        "--seed",
        str(seed),
        "--catch-up",
        str(DEMO_CATCH_UP_MINUTES),
        "--fraud-within",
        "60",
        "--rate",
        str(DEMO_CATCH_UP_RATE if rate is None else rate),
        "--wait-for-api",
        "1800",
        "--labels-out",
        str(home / LIVE_LABELS_FILE),
    ]
    return DemoTraffic(live, dict(redis), early=True)
