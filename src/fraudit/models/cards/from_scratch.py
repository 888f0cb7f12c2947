"""A card model from nothing, for `make demo` and the soak when none exists: a simulated
history (docs/SIMULATOR.md), its features backfilled on local Spark, the card family
trained on them. The same steps as `fraudit generate-cards`, `fraudit features backfill`
and `fraudit train --dataset cards`, called as library functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fraudit.settings import Settings

# The demo's card model: a simulated history this long trains in about a minute on 2 cores
# (docs/BENCHMARKS.md).
DEMO_CARD_TRANSACTIONS = 100_000
SIMULATION_SEED = 7


def simulate_history(
    out: Path, transactions: int, *, seed: int, days: int | None = None, say: Callable[[str], None]
) -> Path:
    """A simulated, labelled card history written to `out` (Parquet, CSV or CSV.gz)."""
    from fraudit.data.card_simulation import CardSimulationConfig, simulate_to_file

    options = {} if days is None else {"days": days}
    simulate_to_file(
        CardSimulationConfig(transactions=transactions, seed=seed, **options), out, say
    )
    return out


def card_model_from_scratch(
    folder: Path,
    settings: Settings,
    transactions: int = DEMO_CARD_TRANSACTIONS,
    say: Callable[[str], None] = print,
) -> int:
    """Simulate, backfill, train into the settings' model folder; 0 once a model is stored."""
    from fraudit.errors import DatasetError
    from fraudit.features.history_files import HistoryError, backfill_file
    from fraudit.models.cards.pipeline import run_card_training
    from fraudit.stream.spark_session import local_session

    folder.mkdir(parents=True, exist_ok=True)
    history, features = folder / "history.parquet", folder / "features"
    simulate_history(history, transactions, seed=SIMULATION_SEED, say=say)
    spark = local_session("fraudit-backfill")
    try:
        say(f"backfilling the card features of {history}")
        backfill_file(spark, history, features)
    except HistoryError as exc:
        say(f"error: {exc}")
        return 2
    finally:
        spark.stop()
    try:
        result = run_card_training(settings, history=history, features=features, progress=say)
    except DatasetError as exc:
        say(f"error: {exc}")
        return 2
    say(f"card model {result.version}")
    return 0
