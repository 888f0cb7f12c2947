"""`fraudit dashboard`: the Streamlit page."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fraudit.console import say as _say
from fraudit.settings import Settings


def cmd_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    """The Streamlit dashboard, until Ctrl-C or SIGTERM (this process becomes the server)."""
    import os
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


def add_parsers(sub: Any) -> None:
    """The dashboard subcommand(s)."""
    p = sub.add_parser("dashboard", help="the Streamlit dashboard (reads DATABASE_URL)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8501)
    p.set_defaults(func=cmd_dashboard)
