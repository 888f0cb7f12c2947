"""`fraudit api`, `fraudit package-api` and `fraudit openapi`: the inference API served locally,
packaged for Lambda, documented."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fraudit.console import say as _say
from fraudit.settings import Settings


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
            f"{url}/predict/batch and {url}/labels; GET {url}/health, {url}/openapi.json"
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


def add_parsers(sub: Any) -> None:
    """The api, package-api, openapi subcommand(s)."""
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
