"""The ULB family's traffic: a dataset's rows replayed with simulated metadata (`fraudit
simulate`, the soak, the demo with `--dataset ulb`)."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

from fraudit.data.creditcard import Dataset
from fraudit.families import DemoTraffic
from fraudit.settings import Settings
from fraudit.simulator.source import ReplaySource, Traffic


def replay_dataset(args: Namespace, settings: Settings, say: Callable[[str], None]) -> Dataset:
    """What is replayed: --data, else as fraudit.data.datasets says."""
    from fraudit.data.datasets import resolve_dataset
    from fraudit.simulator.source import SYNTHETIC_ROWS

    return resolve_dataset(
        args.data, settings.dataset_path, synthetic_rows=SYNTHETIC_ROWS, seed=args.seed, say=say
    )


def simulate(args: Namespace, settings: Settings, say: Callable[[str], None]) -> Traffic:
    from fraudit.data.metadata import MetadataGenerator

    dataset = replay_dataset(args, settings, say)
    return Traffic(ReplaySource(dataset, MetadataGenerator(seed=args.seed), args.timestamps))


def soak_source(
    args: Namespace, settings: Settings, requests: int, out: Path, say: Callable[[str], None]
) -> ReplaySource:
    from fraudit.data.metadata import MetadataGenerator

    return ReplaySource(replay_dataset(args, settings, say), MetadataGenerator(seed=args.seed))


def demo_simulator(
    common: list[str], *, home: Path, seed: int, rate: float | None, redis: dict[str, str]
) -> DemoTraffic:
    """A replay at 5 requests/s that a restart resumes."""
    replay = [
        *common,
        "--rate",
        str(5.0 if rate is None else rate),
        "--resume",
        "--state-file",
        str(home / "simulator-state.json"),
    ]
    return DemoTraffic(replay)
