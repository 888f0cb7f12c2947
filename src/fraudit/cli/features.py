"""`fraudit features backfill|rebuild|reap`: the card features computed on Spark, and the
online store rebuilt from or reconciled with PostgreSQL."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from fraudit.console import say as _say
from fraudit.settings import Settings
from fraudit.stream.spark_session import DRIVER_MEMORY


def cmd_features_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.features.definitions import FEATURE_NAMES, feature_set_version
    from fraudit.features.history_files import HistoryError, backfill_file
    from fraudit.stream.spark_session import local_session

    if not args.history.exists():
        _say(f"error: {args.history} does not exist")
        return 2
    started = time.perf_counter()
    spark = local_session("fraudit-backfill", args.master, args.driver_memory)
    try:
        _say(
            f"backfilling {len(FEATURE_NAMES)} features ({feature_set_version()}) "
            f"from {args.history}"
        )
        rows = backfill_file(spark, args.history, args.out)
    except HistoryError as exc:
        _say(f"error: {exc}")
        return 2
    finally:
        spark.stop()
    _say(f"wrote {rows:,} rows to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


def _store_and_database(settings: Settings) -> tuple[Any, str] | None:
    """The online store (with a patient timeout: an operator's task, not a request) and
    the database URL, both checked; None after saying what is missing."""
    from fraudit.api.wiring import build_store
    from fraudit.db.connection import database_url as configured_database_url

    url = configured_database_url(settings)
    if not url:
        _say("error: no database: set DATABASE_URL (or FRAUDIT_DATABASE_SECRET_ID)")
        return None
    store = build_store(settings.model_copy(update={"redis_timeout_seconds": 30.0}))
    if not store.ping():
        _say("error: Redis does not answer at FRAUDIT_REDIS_URL")
        return None
    return store, url


def cmd_features_reap(args: argparse.Namespace, settings: Settings) -> int:
    """Undo the counts of attempts that died unanswered (fraudit.online.reaper)."""
    import psycopg

    from fraudit.db.connection import connect, describe
    from fraudit.online.reaper import reap_with_database
    from fraudit.online.redis_store import CLAIM_TTL_SECONDS
    from fraudit.online.store import StoreUnavailable

    reached = _store_and_database(settings)
    if reached is None:
        return 2
    store, url = reached
    try:
        with connect(url) as conn:
            result = reap_with_database(
                store, conn, claim_seconds=CLAIM_TTL_SECONDS, grace_seconds=args.grace_seconds
            )
    except StoreUnavailable as exc:
        _say(f"error: Redis failed while reaping ({exc}); it is safe to run it again")
        return 1
    except psycopg.Error as exc:
        _say(
            f"error: {describe(url)} could not be read ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}); the stream job creates its tables: is this its database?"
        )
        return 1
    if result.began_before_ms is None:
        _say(f"nothing judged: {describe(url)} holds no event yet")
        return 0
    judged = ", ".join(f"{n:,} {what}" for what, n in sorted(result.outcomes.items()))
    _say(f"unfinished attempts judged against {describe(url)}: {judged or 'none'}")
    return 0


def cmd_features_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """The online store, counted again from PostgreSQL's card events."""
    from fraudit.db.connection import connect, describe
    from fraudit.online.rebuild import rebuild, rows_to_rebuild
    from fraudit.online.store import StoreUnavailable

    reached = _store_and_database(settings)
    if reached is None:
        return 2
    store, url = reached
    started = time.perf_counter()
    _say(
        f"rebuilding the online store (keys {settings.redis_key_prefix}*) from "
        f"{describe(url)}: card events within {store.state_ttl_seconds / 86_400:.0f} days "
        "of the newest; card transactions get 503s until it is done"
    )

    def progress(read: int, counted: int) -> None:
        _say(f"  {read:,} transactions read, {counted:,} counted again")

    try:
        with connect(url) as conn:
            result = rebuild(
                store, rows_to_rebuild(conn, store.state_ttl_seconds), progress=progress
            )
    except StoreUnavailable as exc:
        _say(f"error: Redis failed during the rebuild ({exc}); it is safe to run it again")
        return 1
    _say(
        f"done in {time.perf_counter() - started:.1f} s: {result.transactions:,} transactions, "
        f"{result.counted:,} counted again, {result.transactions - result.counted:,} already "
        "held"
    )
    return 0


def add_parsers(sub: Any) -> None:
    """The features subcommand(s)."""
    p = sub.add_parser("features", help="card-transaction features (docs/FEATURES.md)")
    features = p.add_subparsers(dest="features_command", required=True)
    p = features.add_parser(
        "backfill",
        help="every transaction's features from a history file (CSV or Parquet), on Spark",
    )
    p.add_argument("--history", type=Path, required=True, help="CSV (.csv, .csv.gz) or Parquet")
    p.add_argument("--out", type=Path, required=True, help="Parquet folder to write")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--driver-memory", default=DRIVER_MEMORY)
    p.set_defaults(func=cmd_features_backfill)
    p = features.add_parser(
        "rebuild",
        help="restore the online store (Redis) from PostgreSQL's card events after a loss; "
        "safe to repeat",
    )
    p.set_defaults(func=cmd_features_rebuild)
    from fraudit.online.reaper import DEFAULT_GRACE_SECONDS

    p = features.add_parser(
        "reap",
        help="undo the counts of card requests that died unanswered (judged against "
        "PostgreSQL's events); safe to repeat, meant to run every few minutes",
    )
    p.add_argument(
        "--grace-seconds",
        type=float,
        default=float(DEFAULT_GRACE_SECONDS),
        help="how far the stream job must have loaded past an attempt before it is judged",
    )
    p.set_defaults(func=cmd_features_reap)
