"""The `fraudit` command: each capability's subcommands come from its own `cli` module
(fraudit.<capability>.cli), each command a thin shell over package code."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Sequence

from fraudit.console import say as _say
from fraudit.settings import get_settings

# The order of `fraudit --help`.
SUBCOMMANDS = (
    "fraudit.models.cli",
    "fraudit.data.cli",
    "fraudit.api.cli",
    "fraudit.local.cli",
    "fraudit.stream.cli",
    "fraudit.features.cli",
    "fraudit.simulator.cli",
    "fraudit.dashboard.cli",
    "fraudit.soak.cli",
    "fraudit.deploy.cli",
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


if __name__ == "__main__":
    sys.exit(main())
