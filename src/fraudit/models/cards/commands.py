"""`fraudit train` and `fraudit evaluate` for the card family (`--dataset cards`)."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from fraudit.settings import Settings


def train_from_store(args: Namespace, settings: Settings, say: Callable[[str], None]) -> int:
    """--from-store: the stored decisions before --as-of, labelled as of then, written under
    --out (default: FRAUDIT_MODEL_DIR/candidates, never over the live model)."""
    import json

    from fraudit.db.connection import open_database
    from fraudit.errors import DatasetError
    from fraudit.models.cards.from_store import train_from_store as train_on_store
    from fraudit.models.layout import CANDIDATES_DIR

    if args.as_of is None:
        say("error: --from-store needs --as-of DATE: the labels reported by then are used")
        return 2
    out = args.out or Path(settings.model_dir) / CANDIDATES_DIR
    conn = open_database(settings)
    try:
        done = train_on_store(
            conn,
            settings,
            start=args.since or datetime(1970, 1, 1, tzinfo=UTC),
            as_of=args.as_of,
            compare_until=args.compare_until or datetime.now(UTC),
            out_dir=out,
            progress=say,
        )
    except DatasetError as exc:
        say(f"error: {exc}")
        return 2
    finally:
        conn.close()
    for name, figures in done.comparison.items():
        say(
            f"{name} model {figures['model_version']} on the later period: "
            f"AUPRC {figures['auprc']:.4f}, declines catch "
            f"{figures['fraud_declined']['share']:.1%} of frauds, genuine reviewed "
            f"{figures['genuine_reviewed']['share']:.2%}"
        )
    report = done.path / "store_comparison.json"
    report.write_text(json.dumps(done.comparison, indent=2, default=float), encoding="utf-8")
    say(f"written under {out} (not the live model's folder); comparison in {report}")
    print(done.version)
    return 0


def train(args: Namespace, settings: Settings, say: Callable[[str], None]) -> int:
    if getattr(args, "from_store", False):
        return train_from_store(args, settings, say)
    if args.data is None or args.features is None:
        say(
            "error: --dataset cards needs --data HISTORY (`fraudit generate-cards`, or your own "
            "history in that layout) and --features FOLDER (`fraudit features backfill "
            "--history HISTORY --out FOLDER`)"
        )
        return 2
    for path in (args.data, args.features):
        if not path.exists():
            say(f"error: {path} does not exist")
            return 2
    from fraudit.errors import DatasetError
    from fraudit.models.cards.pipeline import run_card_training

    try:
        result = run_card_training(
            settings, history=args.data, features=args.features, out_dir=args.out, progress=say
        )
    except DatasetError as exc:
        say(f"error: {exc}")
        return 2
    print(result.version)
    return 0


def _utc_midnight(day: date) -> float:
    return datetime.combine(day, datetime.min.time(), UTC).timestamp()


def evaluate(args: Namespace, settings: Settings, say: Callable[[str], None]) -> int:
    from fraudit.errors import ArtifactError, DatasetError
    from fraudit.models.cards.stored_evaluation import run_card_evaluation

    if bool(args.data) != bool(args.features):
        say("error: evaluating on a history needs both --data and --features")
        return 2
    try:
        run_card_evaluation(
            args.model_dir or settings.model_dir,
            args.version,
            data=args.data,
            features=args.features,
            since=_utc_midnight(args.since) if args.since else None,
            folds=args.folds,
            seed=settings.seed,
            out=args.json,
            say=say,
            show=print,
        )
    except (ArtifactError, DatasetError, OSError) as exc:
        say(f"error: {exc}")
        return 2
    return 0


def from_scratch(
    folder: Path, settings: Settings, say: Callable[[str], None], data: Path | None
) -> int:
    """A card model on a simulated history (`data` is the ULB family's: not used here)."""
    from fraudit.models.cards.from_scratch import card_model_from_scratch

    return card_model_from_scratch(folder, settings, say=say)
