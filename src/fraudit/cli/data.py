"""`fraudit generate-synthetic`, `fraudit generate-cards` and `fraudit import`: datasets made or
brought in."""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path
from typing import Any

from fraudit.console import say as _say
from fraudit.settings import Settings


def cmd_generate_synthetic(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.data.synthetic import SyntheticCreditCard, write_csv

    started = time.perf_counter()
    data = SyntheticCreditCard().generate(args.rows, args.seed)
    write_csv(data, args.out, progress=lambda n: _say(f"  {n:,}/{data.n_rows:,} rows written"))
    _say(
        f"wrote {args.out}: {data.n_rows:,} rows, {data.n_frauds:,} frauds in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 0


def cmd_generate_cards(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from fraudit.data.card_simulation import CardSimulationConfig, simulate_to_file

    try:
        config = CardSimulationConfig(
            transactions=args.transactions,
            days=args.days,
            start=args.start,
            seed=args.seed,
            fraud_rate=args.fraud_rate,
            amount_scale=args.amount_scale,
        )
    except ValidationError as exc:
        problems = "; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in exc.errors() if e["loc"])
        _say(f"error: {problems or exc}")
        return 2
    simulate_to_file(config, args.out, _say)
    return 0


def cmd_import_sparkov(args: argparse.Namespace, settings: Settings) -> int:
    """A Sparkov-format file -> a labelled card history (docs/FEATURES.md)."""
    from fraudit.data.sparkov import SparkovImportError
    from fraudit.data.sparkov_history import import_sparkov_history

    key = settings.card_token_key.get_secret_value().encode() if settings.card_token_key else None
    try:
        done = import_sparkov_history(args.file, args.out, key, _say)
    except (SparkovImportError, OSError) as exc:
        _say(f"error: {exc}")
        return 2
    _say(
        f"wrote {args.out}: {done.rows:,} transactions, {done.frauds:,} frauds, {done.cards:,} "
        f"cards ({done.tokenised:,} card numbers tokenised), {done.first:%Y-%m-%d} to "
        f"{done.last:%Y-%m-%d}; next: fraudit features backfill --history {args.out} --out DIR"
    )
    return 0


def add_parsers(sub: Any) -> None:
    """The generate-synthetic, generate-cards, import subcommand(s)."""
    p = sub.add_parser("generate-synthetic", help="write a calibrated synthetic creditcard.csv")
    p.add_argument("--rows", type=int, default=284_807)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=Path("dataset/synthetic_creditcard.csv"))
    p.set_defaults(func=cmd_generate_synthetic)

    p = sub.add_parser(
        "generate-cards",
        help="simulate card transactions with histories and labelled fraud (docs/SIMULATOR.md)",
    )
    p.add_argument("--transactions", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--start", type=date.fromisoformat, default=date(2020, 1, 1), help="YYYY-MM-DD")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fraud-rate", type=float, help="default: the real Sparkov rate (0.386%%)")
    p.add_argument(
        "--amount-scale",
        type=float,
        default=1.0,
        help="every amount times this (a shifted market; default 1)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("dataset/cards.parquet"),
        help=".parquet, .csv or .csv.gz (a history file for `fraudit features backfill`)",
    )
    p.set_defaults(func=cmd_generate_cards)

    importer = sub.add_parser("import", help="turn a dataset file into a labelled history")
    kinds = importer.add_subparsers(dest="kind", required=True, metavar="KIND")
    p = kinds.add_parser(
        "sparkov",
        help="a Sparkov-format CSV (fraudTrain.csv, fraudTest.csv) -> a card history file; "
        "card numbers become tokens keyed by FRAUDIT_CARD_TOKEN_KEY",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--out", type=Path, required=True, help="HISTORY (.parquet, .csv, .csv.gz)")
    p.set_defaults(func=cmd_import_sparkov)
