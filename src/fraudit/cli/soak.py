"""`fraudit soak`: sustained load with injected faults."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraudit.console import say as _say
from fraudit.families import families, family
from fraudit.settings import Settings


def cmd_soak(args: argparse.Namespace, settings: Settings) -> int:
    """Sustained load with injected faults; exits 1 unless nothing was lost or duplicated
    and memory stayed flat."""

    from fraudit.local.demo import DemoError, handle_stop_signals
    from fraudit.soak.harness import Soak
    from fraudit.soak.plan import SoakConfig

    handle_stop_signals()
    out = args.out or Path("bench/results") / (
        f"soak-{datetime.now(UTC):%Y-%m-%dT%H%M}-{args.minutes:g}min"
    )
    try:
        config = SoakConfig(
            minutes=args.minutes,
            rate=args.rate,
            concurrency=args.concurrency,
            out_dir=out,
            model_dir=args.model_dir or settings.model_dir,
            dataset=args.dataset,
        )
        source = (
            family(args.dataset).traffic().soak_source(args, settings, config.requests, out, _say)
        )
    except (OSError, ValueError) as exc:
        _say(f"error: {exc}")
        return 2
    soak = Soak(config, source, _say)
    try:
        report = soak.run(
            train=lambda needed: needed.commands().from_scratch(
                out / f"{needed.name}-training", settings, _say, args.data
            )
        )
    except (DemoError, RuntimeError, OSError) as exc:
        _say(f"error: {exc}")
        return 1
    r = report.reconciliation
    _say(
        f"{'PASSED' if report.passed else 'FAILED'}: {r.accepted_responses:,} accepted, "
        f"{r.rows:,} rows, {r.distinct_event_ids:,} distinct event_ids, {r.lost} lost, "
        f"{r.duplicated} duplicated; API errors {report.error_rate:.3%}, p99 "
        f"{report.latency_ms['p99']:.1f} ms; report {out / 'report.md'}"
    )
    for failure in report.failures:
        _say(f"  - {failure}")
    return 0 if report.passed else 1


def add_parsers(sub: Any) -> None:
    """The soak subcommand(s)."""
    p = sub.add_parser(
        "soak",
        help="sustained load with a Spark kill and a PostgreSQL "
        "restart; checks every accepted event is exactly one row",
    )
    p.add_argument("--minutes", type=float, default=3.0, help="minutes of load")
    p.add_argument("--rate", type=float, default=50.0, help="requests/s")
    p.add_argument("--concurrency", type=int, default=4, help="simulator connections")
    p.add_argument(
        "--dataset",
        choices=[f.name for f in families()],
        default="cards",
        help="cards (default): simulated card transactions through the online store, which "
        "the run restarts and rebuilds; ulb: the ULB vectors",
    )
    p.add_argument(
        "--data",
        type=Path,
        help="what to replay: a card history (default: one simulated for the run) or, with "
        "--dataset ulb, creditcard.csv (default as `simulate`)",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--model-dir", type=Path, help="default FRAUDIT_MODEL_DIR")
    p.add_argument(
        "--out",
        type=Path,
        help="report folder (default bench/results/soak-<UTC time>-<minutes>min)",
    )
    p.set_defaults(func=cmd_soak)
