"""`make bench` / `make bench QUICK=1`: every benchmark, one after another (never two at
once: they would share the same two cores), then one combined result file
bench/results/<date>[-quick].json and the regenerated section of docs/BENCHMARKS.md.

    python bench/run_all.py [--quick] [--only stream,api] [--note "..."]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine
from bench.report import figures, judge_targets, markdown, replace_section

BENCHES = (
    "model_server",
    "api",
    "stream",
    "dashboard",
    "backfill",
    "online_store",
    "online_parity",
    "rules",
    "backtest",
)
DOC = REPO / "docs" / "BENCHMARKS.md"


def newest_result(prefix: str, since: float) -> Path | None:
    candidates = [
        p
        for p in (REPO / "bench" / "results").glob(f"{prefix}-*.json")
        if p.stat().st_mtime >= since
    ]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few minutes, fewer runs")
    parser.add_argument("--only", help=f"comma-separated subset of {', '.join(BENCHES)}")
    parser.add_argument("--note", help="a line to print above the tables (run conditions)")
    parser.add_argument("--no-doc", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(BENCHES)
    unknown = set(chosen) - set(BENCHES)
    if unknown:
        parser.error(f"unknown bench(es): {', '.join(sorted(unknown))}")

    started_all = time.monotonic()
    results: dict[str, dict[str, object]] = {}
    seconds: dict[str, float] = {}
    failed: list[str] = []
    for i, name in enumerate(chosen, 1):
        print(
            f"[{i}/{len(chosen)}] bench_{name}{' --quick' if args.quick else ''}",
            file=sys.stderr,
            flush=True,
        )
        since, started = time.time() - 1, time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                str(REPO / "bench" / f"bench_{name}.py"),
                *(["--quick"] if args.quick else []),
            ],
            cwd=REPO,
            check=False,
        )
        seconds[name] = time.monotonic() - started
        path = newest_result(name, since)
        if done.returncode or path is None:
            print(
                f"[{i}/{len(chosen)}] bench_{name} FAILED (exit {done.returncode})",
                file=sys.stderr,
                flush=True,
            )
            failed.append(name)
            continue
        results[name] = json.loads(path.read_text())
        print(
            f"[{i}/{len(chosen)}] bench_{name} done in {seconds[name]:.0f} s ({path.name})",
            file=sys.stderr,
            flush=True,
        )

    now = datetime.now(UTC)
    file = f"{now:%Y-%m-%d}{'-quick' if args.quick else ''}.json"
    figs = figures(results)
    combined = {
        "date": now.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "seconds": seconds,
        "failed": failed,
        "file": file,
        "note": args.note or "",
        "figures": [asdict(f) for f in figs],
        "targets": judge_targets(figs),
        "results": results,
    }
    out = REPO / "bench" / "results" / file
    out.write_text(json.dumps(combined, indent=1))
    section = markdown(combined)
    if not args.no_doc:
        DOC.write_text(replace_section(DOC.read_text(), section))
    print(section)
    print(
        f"\n{len(chosen)} benches in {time.monotonic() - started_all:.0f} s; results {out}"
        + ("" if args.no_doc else f"; {DOC} updated"),
        file=sys.stderr,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
