"""The `fraudit` command. Each subcommand is a thin shell over package code."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from fraudit.families import families, family
from fraudit.settings import Settings, get_settings
from fraudit.simulator.demo_population import LIVE_CARDS, LIVE_SEEDED_DAYS
from fraudit.stream.kinesis_offsets import STARTING_POSITIONS, TRIM_HORIZON
from fraudit.stream.spark_session import DRIVER_MEMORY


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    return family(args.dataset).commands().train(args, settings, _say)


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    return family(args.dataset).commands().evaluate(args, settings, _say)


def cmd_serve_models(args: argparse.Namespace, settings: Settings) -> int:
    """Every declared family with a trained model, two endpoints each (a family with no
    model is skipped; none at all is an error)."""
    from fraudit.errors import ArtifactError
    from fraudit.models.server import ModelServer, family_endpoints

    model_dir = args.model_dir or settings.model_dir
    only = family(args.family) if args.family else None
    try:
        endpoints = family_endpoints(model_dir, settings, only=only, version=args.version)
    except ArtifactError as exc:
        _say(f"error: {exc}")
        return 2
    if not endpoints:
        _say(f"error: no trained model under {model_dir}: run `fraudit train` first")
        return 2
    host = args.host or settings.model_server_host
    port = settings.model_server_port if args.port is None else args.port
    try:
        server = ModelServer(
            (host, port), endpoints, max_body_bytes=settings.model_server_max_body_bytes
        )
    except OSError as exc:
        _say(
            f"cannot listen on {host}:{port}: {exc.strerror} "
            "(set FRAUDIT_MODEL_SERVER_PORT or --port to another port)"
        )
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    _say(f"model server on {server.url}")
    for name, endpoint in server.endpoints.items():
        _say(f"  {server.url}/endpoints/{name}/invocations  ({endpoint.model_version})")
    _say(f"  export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={server.url}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        _say("stopping model server")
    finally:
        server.server_close()
    return 0


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

    from fraudit.data.card_simulation import CardSimulationConfig, simulate, write_history

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
    started = time.perf_counter()
    _say(f"simulating {config.transactions:,} card transactions over {config.days} days")
    history = simulate(config, progress=lambda step: _say(f"  {step}"))
    _say(f"  writing {args.out}")
    write_history(history, args.out)
    frauds = int(history.is_fraud.sum())
    _say(
        f"wrote {args.out}: {len(history):,} transactions, {frauds:,} frauds "
        f"({frauds / len(history):.3%}), {history.card.nunique():,} cards in "
        f"{time.perf_counter() - started:.1f} s"
    )
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


def _api_key_refusal(settings: Settings, host: str, insecure_no_key: bool) -> str | None:
    """Why `fraudit api` will not start: a configured key that is empty or malformed, or
    no key on an address other machines can reach (unless told --insecure-no-key)."""
    from fraudit.api.wiring import ApiKeyError, api_key_configured, resolve_api_key
    from fraudit.aws_clients import is_loopback_host

    try:
        key = resolve_api_key(settings) if api_key_configured(settings) else None
    except ApiKeyError as exc:
        return f"error: {exc}"
    if key is None and not is_loopback_host(host) and not insecure_no_key:
        return (
            f"error: refusing to serve on {host} without an API key: anyone who can reach "
            "it could score and record transactions. Set FRAUDIT_API_KEY (or "
            "FRAUDIT_API_KEY_SECRET_ID), bind to 127.0.0.1, or pass --insecure-no-key."
        )
    if key is None and not is_loopback_host(host):
        _say(f"warning: serving on {host} without an API key (--insecure-no-key)")
    return None


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the Chalice app locally (the same object the Lambda serves)."""
    from fraudit.api.app import create_app
    from fraudit.api.local_server import serve
    from fraudit.logs import configure_json_logging

    configure_json_logging(args.log_level or settings.log_level)
    host = args.host or settings.api_host
    port = settings.api_port if args.port is None else args.port
    workers = args.workers or settings.api_workers
    refusal = _api_key_refusal(settings, host, args.insecure_no_key)
    if refusal:
        _say(refusal)
        return 2

    def ready(url: str) -> None:
        _say(
            f"fraudit API on {url} ({workers} worker process(es)): POST {url}/predict, "
            f"GET {url}/health, GET {url}/openapi.json"
        )

    try:
        return serve(
            lambda: create_app(settings=settings),
            host,
            port,
            workers,
            ready,
            max_body_bytes=settings.api_max_body_bytes,
        )
    except OSError as exc:
        _say(
            f"cannot listen on {host}:{port}: {exc.strerror} "
            "(set FRAUDIT_API_PORT or --port to another port)"
        )
        return 2


def cmd_package_api(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.api.bundle import package

    zip_path = package(args.app_dir, args.out, args.stage, settings.aws_region)
    _say(f"Lambda bundle: {zip_path} ({zip_path.stat().st_size / 2**20:.1f} MiB)")
    return 0


def cmd_openapi(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.api.openapi import build_openapi

    print(json.dumps(build_openapi(settings), indent=2, sort_keys=True))
    return 0


def cmd_kinesis_emulator(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.local.kinesis_emulator import KinesisEmulator
    from fraudit.local.stop_request import StopRequest

    # A signal is recorded and polled, never raised mid-import (where CPython may drop it):
    # from the moment kinesalite runs, a signal (even mid start-up) must stop it, since it
    # lives in a session of its own where no terminal signal reaches it.
    stop = StopRequest.install()
    emulator = KinesisEmulator(args.home, host=args.host, port=args.port, storage=args.storage)
    try:
        if emulator.start(stopping=lambda: stop.requested) and not stop.requested:
            emulator.create_stream(settings.stream_name, args.shards)
            stream = f"stream {settings.stream_name} ({args.shards} shards)"
            _say(f"kinesalite on {emulator.url}, {stream}")
            _say(f"  export AWS_ENDPOINT_URL_KINESIS={emulator.url}")
        assert emulator.process is not None
        while emulator.process.poll() is None and not stop.wait(0.5):
            pass
        if not stop.requested:
            _say(f"kinesalite exited on its own with status {emulator.process.returncode}")
            return 1
        _say("stopping kinesalite")
    finally:
        emulator.stop()
    return 0


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


def cmd_stream(args: argparse.Namespace, settings: Settings) -> int:
    """Kinesis -> Spark (local) -> PostgreSQL, until Ctrl-C."""
    from fraudit.db.connection import database_url as configured_database_url
    from fraudit.stream.indicators import load_rules
    from fraudit.stream.local_job import StreamOptions, start
    from fraudit.stream.spark_session import local_session

    database_url = args.database_url or configured_database_url(settings)
    if not database_url:
        _say(
            "error: no database: set DATABASE_URL (or FRAUDIT_DATABASE_SECRET_ID) or pass "
            "--database-url"
        )
        return 2
    options = StreamOptions(
        stream_name=args.stream_name or settings.stream_name,
        endpoint_url=args.endpoint_url or settings.aws_endpoint_url_kinesis,
        region=settings.aws_region,
        starting_position=args.starting_position,
        starting_timestamp=args.starting_timestamp,
        trigger_interval=args.trigger_interval,
        checkpoint_dir=args.checkpoint_dir,
        database_url=database_url,
        max_records_per_trigger=args.max_records_per_trigger,
        rules_file=args.rules or settings.indicator_rules,
    )
    try:
        load_rules(options.rules_file)
    except (OSError, ValueError) as exc:
        _say(f"error: indicator rules: {exc}")
        return 2
    spark = local_session("fraudit-stream", args.master, args.driver_memory)
    spark.sparkContext.setLogLevel("WARN")
    query = start(spark, options)
    _say(
        f"streaming {options.stream_name} -> PostgreSQL (checkpoint {options.checkpoint_dir}); "
        "Ctrl-C stops"
    )
    try:
        query.awaitTermination()
    except KeyboardInterrupt:
        _say("stopping the stream (the checkpoint keeps its place)")
    finally:
        query.stop()
        spark.stop()
    return 0


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
        )
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
    return 0 if summary.unanswered == 0 and summary.server_errors == 0 else 1


def cmd_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    """The Streamlit dashboard, until Ctrl-C or SIGTERM (this process becomes the server)."""
    import os
    import sys
    from importlib import resources

    if not (settings.database_url or settings.database_secret_id):
        _say(
            "note: neither DATABASE_URL nor FRAUDIT_DATABASE_SECRET_ID is set; the page will "
            "say so until one is"
        )
    script = resources.files("fraudit.dashboard").joinpath("streamlit_app.py")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.headless",
        "true",
        "--server.address",
        args.host,
        "--server.port",
        str(args.port),
        "--browser.gatherUsageStats",
        "false",
    ]
    _say(f"dashboard at http://{args.host}:{args.port}")
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the Streamlit server rather than its parent: a SIGTERM (docker stop, systemd,
    # a test's terminate()) then stops the server itself instead of orphaning it.
    os.execv(sys.executable, command)  # noqa: S606 - this interpreter, fixed arguments


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """The whole pipeline on this machine, until Ctrl-C."""
    import shutil

    from fraudit.local.demo import Demo, DemoConfig, DemoError, handle_stop_signals

    handle_stop_signals()
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # its INFO lines drown ours
    home = args.home
    if args.fresh and home.exists():
        _say(f"--fresh: removing {home} (database, stream, checkpoints)")
        shutil.rmtree(home)
    config = DemoConfig(
        home=home,
        dataset=args.dataset,
        model_port=args.model_port or settings.model_server_port,
        api_port=args.api_port or settings.api_port,
        kinesis_port=args.kinesis_port,
        dashboard_port=args.dashboard_port,
        database_url=settings.database_url,
        model_dir=settings.model_dir,
        simulator=not args.no_simulator,
        rate=args.rate,
        seed=args.seed,
    )
    demo = Demo(config, _say)
    try:
        demo.start(
            train=lambda needed: needed.commands().from_scratch(
                home / needed.name / "training", settings, _say, args.data
            )
        )
        _say(
            "Ctrl-C stops everything"
            + ("" if config.simulator else "; send traffic with `fraudit simulate`")
        )
        return demo.watch()
    except (DemoError, RuntimeError, OSError) as exc:
        _say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        _say("stopping")
        return 0
    finally:
        demo.stop()
        _say("stopped")


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


def _family_argument(parser: argparse.ArgumentParser, flag: str, help_text: str) -> None:
    first = families()[0].name
    parser.add_argument(
        flag,
        choices=[f.name for f in families()],
        default=first,
        help=f"the model family (default {first}): {help_text}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraudit", description=__doc__)
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ...")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a family's classifier and anomaly detector")
    _family_argument(
        p,
        "--dataset",
        " or ".join(f.description for f in families()) + " (docs/MODELS.md)",
    )
    p.add_argument(
        "--data",
        type=Path,
        help="ulb: creditcard.csv (default: FRAUDIT_DATASET_PATH, else calibrated synthetic "
        "data); cards: the transaction history (Parquet or CSV, labelled)",
    )
    p.add_argument(
        "--features", type=Path, help="cards: the history's backfilled features (Parquet folder)"
    )
    p.add_argument("--out", type=Path, help="artifact root (default: FRAUDIT_MODEL_DIR)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="report the stored model (on a later file, or its model card's test figures)",
    )
    _family_argument(
        p,
        "--dataset",
        "cards: the fold table; with --data and --features, the stored model scored on that "
        "labelled history (with --folds, also the recipe retrained on its folds)",
    )
    p.add_argument("--data", type=Path)
    p.add_argument("--features", type=Path, help="cards: the history's backfilled features")
    p.add_argument("--model-dir", type=Path)
    p.add_argument("--version")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also train the reference recipe and compare, over --seeds seeds",
    )
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--bootstrap", type=int, default=500, help="bootstrap resamples")
    p.add_argument(
        "--folds",
        type=int,
        default=0,
        help="with --baseline: both recipes on N forward-chained folds, paired; with "
        "--candidates: the number of folds (default 4); cards with --data: the recipe "
        "retrained on N rolling-origin folds of that history",
    )
    p.add_argument(
        "--since",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="cards with --data: score only the transactions from this UTC date on (the "
        "earlier ones still fed their features)",
    )
    p.add_argument("--json", type=Path, help="where to write the JSON report")
    p.add_argument(
        "--candidates",
        action="store_true",
        help="train each candidate change to the recipe on the folds (--folds, default 4) "
        "and report its paired AUPRC difference with the shipped recipe",
    )
    p.add_argument(
        "--reliability-plot",
        type=Path,
        metavar="PNG",
        help="draw the calibration's reliability plot (level (b) test slice) to this file",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "serve-models",
        help="serve each trained family's two endpoints with the SageMaker contract",
    )
    p.add_argument("--model-dir", type=Path)
    p.add_argument(
        "--family",
        choices=[f.name for f in families()],
        help="serve this family only (default: every family with a trained model)",
    )
    p.add_argument("--version", help="a version of the ULB family, or of --family's")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_serve_models)

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

    p = sub.add_parser("api", help="serve the inference API locally (the Chalice app)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, help="worker processes (default FRAUDIT_API_WORKERS)")
    p.add_argument(
        "--insecure-no-key",
        action="store_true",
        help="serve on a non-loopback address without an API key (never on a network others share)",
    )
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("package-api", help="build the Lambda bundle with `chalice package`")
    p.add_argument("--app-dir", type=Path, default=Path("app/chalice"))
    p.add_argument("--out", type=Path, default=Path("build/lambda"))
    p.add_argument("--stage", default="dev")
    p.set_defaults(func=cmd_package_api)

    p = sub.add_parser("openapi", help="print the API's OpenAPI document")
    p.set_defaults(func=cmd_openapi)

    p = sub.add_parser("kinesis-emulator", help="run kinesalite on loopback with the stream")
    p.add_argument("--home", type=Path, default=Path(".fraudit/node"))
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0 inside a container)"
    )
    p.add_argument("--port", type=int, default=4567)
    p.add_argument("--storage", type=Path, help="LevelDB folder (default: in memory)")
    p.add_argument("--shards", type=int, default=2)
    p.set_defaults(func=cmd_kinesis_emulator)

    p = sub.add_parser("stream", help="Kinesis -> Spark -> PostgreSQL, on local Spark")
    p.add_argument("--stream-name")
    p.add_argument("--endpoint-url", help="Kinesis endpoint (default AWS_ENDPOINT_URL_KINESIS)")
    p.add_argument("--starting-position", default=TRIM_HORIZON, choices=STARTING_POSITIONS)
    p.add_argument(
        "--starting-timestamp", help="ISO-8601 or epoch ms, with --starting-position AT_TIMESTAMP"
    )
    p.add_argument(
        "--rules",
        type=Path,
        help="indicator rules TOML (default FRAUDIT_INDICATOR_RULES, else built-in)",
    )
    p.add_argument("--trigger-interval", default="1 second")
    p.add_argument("--checkpoint-dir", type=Path, default=Path(".fraudit/checkpoints/elt"))
    p.add_argument("--database-url", help="default DATABASE_URL")
    p.add_argument("--max-records-per-trigger", type=int, default=10_000)
    p.add_argument("--master", default="local[2]")
    p.add_argument(
        "--driver-memory",
        default=DRIVER_MEMORY,
        help=f"Spark's JVM heap ceiling (default {DRIVER_MEMORY}: see stream/spark_session.py)",
    )
    p.set_defaults(func=cmd_stream)

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

    p = sub.add_parser("dashboard", help="the Streamlit dashboard (reads DATABASE_URL)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8501)
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("demo", help="the whole pipeline on this machine, with the dashboard")
    p.add_argument("--data", type=Path, help="training data if no model exists yet")
    p.add_argument("--no-simulator", action="store_true", help="start no traffic")
    p.add_argument(
        "--dataset",
        choices=[f.name for f in families()],
        default="cards",
        help="what the simulator sends: simulated card transactions (default; the card model "
        "is trained on first start) or ULB vectors",
    )
    p.add_argument(
        "--rate",
        type=float,
        help="simulator requests/s (default: cards, at most 50 while catching up and then "
        "each transaction at its own time, about 0.7 a second; ulb, 5)",
    )
    p.add_argument("--seed", type=int, default=8, help="the live card population's seed")
    p.add_argument("--model-port", type=int, help="default FRAUDIT_MODEL_SERVER_PORT (8080)")
    p.add_argument("--api-port", type=int, help="default FRAUDIT_API_PORT (8000)")
    p.add_argument("--kinesis-port", type=int, default=4567)
    p.add_argument("--dashboard-port", type=int, default=8501)
    p.add_argument(
        "--home",
        type=Path,
        default=Path(".fraudit/demo"),
        help="where the demo keeps its database, stream, checkpoints and logs",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start from empty: remove .fraudit/demo (database, stream, state)",
    )
    p.set_defaults(func=cmd_demo)

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

    from fraudit.deploy.cli import add_deploy_parser

    add_deploy_parser(sub)
    return parser


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM (docker stop, systemd, kill) runs the same clean-up as Ctrl-C: every command
    # stops the processes it started instead of leaving them orphaned.
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    settings = get_settings()
    logging.basicConfig(
        level=args.log_level or settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    from fraudit.errors import ArtifactError, DatasetError

    try:
        return int(args.func(args, settings))
    except (DatasetError, ArtifactError) as exc:
        _say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
