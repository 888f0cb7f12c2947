"""`fraudit train`, `fraudit evaluate` and `fraudit serve-models`: each family's command (its
`commands` module) chosen by `--dataset`, and every trained family's endpoints served."""

from __future__ import annotations

import argparse
import signal
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

from fraudit.cli.labels import parse_when
from fraudit.console import say as _say
from fraudit.families import families, family
from fraudit.settings import Settings


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


def _family_argument(parser: argparse.ArgumentParser, flag: str, help_text: str) -> None:
    first = families()[0].name
    parser.add_argument(
        flag,
        choices=[f.name for f in families()],
        default=first,
        help=f"the model family (default {first}): {help_text}",
    )


def add_parsers(sub: Any) -> None:
    """The train, evaluate, serve-models subcommand(s)."""
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
    p.add_argument(
        "--from-store",
        action="store_true",
        help="cards: train on the stored decisions' feature snapshots and their labels "
        "(docs/MODELS.md); written under --out, default FRAUDIT_MODEL_DIR/candidates",
    )
    p.add_argument("--as-of", type=parse_when, help="--from-store: labels reported by this date")
    p.add_argument("--since", type=parse_when, help="--from-store: the first day trained on")
    p.add_argument(
        "--compare-until",
        type=parse_when,
        help="--from-store: score the new and the live model on the events from --as-of to "
        "this date, labelled as of it (default: now)",
    )
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
