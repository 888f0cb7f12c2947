"""The `fraudit` command, the entry layer: each capability's subcommands come from a module
of their own here (fraudit.cli.<capability>), each command a thin shell over library code.
Nothing below imports this package."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
from collections.abc import Sequence

from fraudit.console import say as _say
from fraudit.settings import get_settings

# The order of `fraudit --help`.
SUBCOMMANDS = (
    "fraudit.cli.models",
    "fraudit.cli.data",
    "fraudit.cli.api",
    "fraudit.cli.local",
    "fraudit.cli.stream",
    "fraudit.cli.features",
    "fraudit.cli.rules",
    "fraudit.cli.labels",
    "fraudit.cli.backtest",
    "fraudit.cli.simulator",
    "fraudit.cli.dashboard",
    "fraudit.cli.soak",
    "fraudit.cli.deploy",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraudit", description=__doc__)
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ...")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        importlib.import_module(module).add_parsers(sub)
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
