"""`fraudit labels ...`: labels imported from files (chargebacks, early fraud warnings,
manual labels) and how long frauds take to be reported (docs/LABELS.md)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraudit.console import say as _say
from fraudit.settings import Settings


def parse_when(text: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or time with its offset, as a UTC datetime."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time") from None
    if when.tzinfo is None:
        if len(text) > 10:
            raise argparse.ArgumentTypeError(f"{text!r}: give the time's UTC offset")
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def cmd_labels_import(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.db.connection import open_database
    from fraudit.labels.files import LabelFileRefused, read_labels
    from fraudit.labels.store import store_labels

    path = Path(args.file)
    try:
        labels = read_labels(path)
    except FileNotFoundError:
        _say(f"error: {path}: no such file")
        return 2
    except LabelFileRefused as exc:
        _say(f"refused: {exc}")
        return 2
    conn = open_database(settings)
    try:
        stored = store_labels(conn, labels, f"import by {args.actor}: {path.name}")
    finally:
        conn.close()
    print(f"{path}: {len(labels)} row(s); {stored.summary()}")
    return 0


def cmd_labels_maturity(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.db.connection import open_database
    from fraudit.labels.store import maturity

    as_of = args.as_of or datetime.now(UTC)
    conn = open_database(settings)
    try:
        found = maturity(conn, args.start, args.end or as_of, as_of, settings.label_maturity_days)
    finally:
        conn.close()
    if not found.curves:
        print(
            f"no fraud reported by {as_of.isoformat()} for decisions from "
            f"{args.start.isoformat()} to {(args.end or as_of).isoformat()}"
        )
        return 0
    days = range(0, args.days + 1, args.step)
    print("\n".join(found.lines(days)))
    return 0


def add_parsers(sub: Any) -> None:
    labels = sub.add_parser("labels", help="labels of past decisions (docs/LABELS.md)")
    verbs = labels.add_subparsers(dest="labels_command", required=True)

    p = verbs.add_parser(
        "import",
        help="store a CSV or Parquet file of labels (all rows or none; a repeat stores nothing)",
    )
    p.add_argument("file")
    p.add_argument("--as", dest="actor", required=True, help="who imports it (kept per label)")
    p.set_defaults(func=cmd_labels_import)

    p = verbs.add_parser(
        "maturity", help="the share of frauds reported within d days of the transaction"
    )
    p.add_argument("--start", type=parse_when, default=datetime(1970, 1, 1, tzinfo=UTC))
    p.add_argument("--end", type=parse_when, default=None, help="default: the as-of date")
    p.add_argument("--as-of", type=parse_when, default=None, help="labels reported by (now)")
    p.add_argument("--days", type=int, default=90, help="the longest delay shown")
    p.add_argument("--step", type=int, default=5, help="rows every this many days")
    p.set_defaults(func=cmd_labels_maturity)
