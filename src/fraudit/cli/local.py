"""`fraudit kinesis-emulator` and `fraudit demo`: the laptop world."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from fraudit.console import say as _say
from fraudit.families import families
from fraudit.settings import Settings


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


def add_parsers(sub: Any) -> None:
    """The kinesis-emulator, demo subcommand(s)."""
    p = sub.add_parser("kinesis-emulator", help="run kinesalite on loopback with the stream")
    p.add_argument("--home", type=Path, default=Path(".fraudit/node"))
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0 inside a container)"
    )
    p.add_argument("--port", type=int, default=4567)
    p.add_argument("--storage", type=Path, help="LevelDB folder (default: in memory)")
    p.add_argument("--shards", type=int, default=2)
    p.set_defaults(func=cmd_kinesis_emulator)

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
