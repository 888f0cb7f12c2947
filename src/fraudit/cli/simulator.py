"""`fraudit simulate`: traffic against POST /predict (each family's `traffic` module)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fraudit.console import say as _say
from fraudit.families import families, family
from fraudit.settings import Settings
from fraudit.simulator.demo_population import LIVE_CARDS, LIVE_SEEDED_DAYS


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """Replay a dataset against POST /predict at a steady rate."""
    from fraudit.online.store import StoreUnavailable
    from fraudit.simulator.run import SimulatorConfig, read_state, run

    try:
        traffic = family(args.dataset).traffic().simulate(args, settings, _say)
        source, live = traffic.source, traffic.live_from is not None
        start = args.start if traffic.live_from is None else traffic.live_from
        if args.resume and live:
            _say("live traffic starts from its own start: --resume does not apply")
        elif args.resume:
            start = read_state(args.state_file, source.identity)
            _say(f"resuming at row {start}")
        if start >= source.n_rows:
            _say(f"nothing to send: row {start} is past the dataset's {source.n_rows} rows")
            return 0
        if args.dry_run:
            for index in range(start, min(source.n_rows, start + (args.requests or 3))):
                print(source.payload(index).decode())
            return 0
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        config = SimulatorConfig(
            url=args.url or f"http://{settings.api_host}:{settings.api_port}",
            rate=20.0 if args.rate is None else args.rate,
            concurrency=args.concurrency,
            requests=args.requests,
            duration=args.duration,
            start=start,
            api_key=api_key,
            state_file=args.state_file,
            progress=not args.no_progress,
            batch=args.batch,
        )
        if args.chargebacks_out and not hasattr(source, "chargebacks"):
            raise ValueError("--chargebacks-out: only a card history replay has chargebacks")
        if args.batch > 1 and live:
            raise ValueError("--batch: live traffic goes one transaction at its time")
    except (OSError, ValueError, StoreUnavailable) as exc:
        _say(f"error: {exc}")
        return 2
    if live:
        from fraudit.simulator.client import wait_until_healthy

        if not wait_until_healthy(config.url, args.wait_for_api):
            _say(f"error: {config.url}/health did not answer 200 within {args.wait_for_api:g} s")
            return 1
        _say("each transaction is sent at its own simulated time, stamped with it")
    _say(
        f"sending to {config.url}/predict at {config.rate or 'max'} req/s with "
        f"{config.concurrency} connections; Ctrl-C stops"
        + ("" if live else " (--resume continues)")
    )
    summary = run(source, config)
    _say(summary.format())
    if args.chargebacks_out:
        from fraudit.simulator.source import write_label_file

        # The transactions the API recorded: every row before the resume offset.
        labels = source.chargebacks(range(start, summary.next_offset))
        write_label_file(args.chargebacks_out, labels)
        _say(f"wrote {len(labels):,} chargeback label(s) to {args.chargebacks_out}")
    return 0 if summary.unanswered == 0 and summary.server_errors == 0 else 1


def add_parsers(sub: Any) -> None:
    """The simulate subcommand(s)."""
    p = sub.add_parser(
        "simulate",
        help="send traffic to POST /predict: live card transactions of a simulated "
        "population, or a replayed dataset",
    )
    p.add_argument("--url", help="API base URL (default http://FRAUDIT_API_HOST:PORT)")
    p.add_argument(
        "--data",
        type=Path,
        help="creditcard.csv (default: FRAUDIT_DATASET_PATH, "
        "else the dev sample, else synthetic rows)",
    )
    p.add_argument(
        "--dataset",
        choices=[f.name for f in families()],
        default="ulb",
        help="ulb: creditcard.csv vectors; cards: live transactions of a simulated "
        "population whose recent history is seeded into the store first (FRAUDIT_REDIS_*), "
        "or with --data, a card history replayed in compressed time",
    )
    p.add_argument("--last", type=int, help="cards with --data: replay only the history's last N")
    p.add_argument(
        "--cards",
        type=int,
        default=LIVE_CARDS,
        help=f"live cards: the population (default {LIVE_CARDS:,}: 0.7 requests/s at about 3 "
        "transactions a day per card)",
    )
    p.add_argument(
        "--seeded-days",
        type=float,
        default=LIVE_SEEDED_DAYS,
        help=f"live cards: days of history counted into the store first (default "
        f"{LIVE_SEEDED_DAYS:g}; longer windows see only that much)",
    )
    p.add_argument(
        "--fraud-within",
        type=float,
        help="live cards: start the traffic this many seconds before the population's next "
        "fraud (the demo uses 60)",
    )
    p.add_argument(
        "--catch-up",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="live cards: start the live traffic this many minutes ago; that stretch is sent "
        "as fast as --rate allows, each transaction at its own time",
    )
    p.add_argument(
        "--labels-out",
        type=Path,
        help="live cards: write each live transaction's id, label and scenario here (CSV)",
    )
    p.add_argument(
        "--chargebacks-out",
        type=Path,
        help="cards with --timestamps dataset: write the chargebacks of the transactions "
        "sent as a label file, with their report dates (fraudit labels import)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        help="transactions per request: more than 1 posts /predict/batch (at most 500)",
    )
    p.add_argument(
        "--wait-for-api",
        type=float,
        default=300.0,
        help="live cards: seconds to wait for GET /health after seeding",
    )
    p.add_argument(
        "--rate",
        type=float,
        help="requests/s; 0 = unthrottled (default 20; live cards never go faster than "
        "their own times)",
    )
    p.add_argument("--concurrency", type=int, default=4, help="keep-alive connections")
    p.add_argument("--requests", type=int, help="stop after N requests")
    p.add_argument("--duration", type=float, help="stop after S seconds")
    p.add_argument("--start", type=int, default=0, help="first dataset row")
    p.add_argument(
        "--seed", type=int, default=42, help="metadata seed; live cards: the population's"
    )
    p.add_argument(
        "--timestamps",
        choices=["now", "dataset"],
        default="now",
        help="stamp requests with the send time, or the dataset's own times (older than a "
        "week: raise FRAUDIT_MAX_EVENT_AGE_DAYS on the API)",
    )
    p.add_argument("--resume", action="store_true", help="continue after the last run")
    p.add_argument("--state-file", type=Path, default=Path(".fraudit/simulator-state.json"))
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the payloads (--requests of them, default 3) and exit",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_simulate)
