"""What every benchmark here shares: the machine description, summaries over runs, and
where results go."""

from __future__ import annotations

import json
import os
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraudit.data.datasets import SAMPLES_FOLDER, ULB_DEV_SAMPLE
from fraudit.machine import describe_machine as machine  # noqa: F401 - for the benches

REPO = Path(__file__).resolve().parents[1]
DEV_CSV = REPO / SAMPLES_FOLDER / ULB_DEV_SAMPLE  # committed real rows (dataset/README.md)


def proc_stat(path: Path) -> tuple[str, float]:
    """(name, CPU seconds used: utime + stime) from a Linux /proc/<pid>/stat or
    /proc/<pid>/task/<tid>/stat file. Raises OSError when it is gone."""
    text = path.read_text()
    name, fields = (
        text[text.index("(") + 1 : text.rindex(")")],
        text[text.rindex(")") + 2 :].split(),
    )
    return name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarise(per_run: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Median and spread of each figure over repeated runs."""
    return {
        key: {
            "median": statistics.median(r[key] for r in per_run),
            "min": min(r[key] for r in per_run),
            "max": max(r[key] for r in per_run),
        }
        for key in per_run[0]
    }


def cell(summary: dict[str, dict[str, float]], key: str, digits: int = 2) -> str:
    s = summary[key]
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def write_results(prefix: str, results: dict[str, Any], quick: bool) -> Path:
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{prefix}-{datetime.now(UTC):%Y-%m-%d}{'-quick' if quick else ''}.json"
    path.write_text(json.dumps(results, indent=2))
    return path


def local_api_env(
    model_url: str, kinesis_url: str, model_dir: Path, redis_url: str, **more: str
) -> dict[str, str]:
    """The environment of a benchmark's `fraudit api`: the local model server and
    kinesalite through the AWS endpoint variables, a private Redis, quiet logs; `more`
    adds FRAUDIT_* settings (FRAUDIT_RULESET_URI="...", say)."""
    return {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": model_url,
        "AWS_ENDPOINT_URL_KINESIS": kinesis_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "FRAUDIT_MODEL_DIR": str(model_dir),
        "FRAUDIT_REDIS_URL": redis_url,
        "FRAUDIT_LOG_LEVEL": "WARNING",
        **more,
    }
