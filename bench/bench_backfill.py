"""The card-history pipeline at several sizes: `fraudit generate-cards` then
`fraudit features backfill` on what it wrote, each step's wall time and peak memory (the
whole process tree: for the backfill, the Python driver and Spark's JVM).

    python bench/bench_backfill.py [--sizes 250000,500000,1000000] [--quick]

Each size is a simulated year (docs/SIMULATOR.md: ~3 transactions per card and day, the
real Sparkov fraud rate). Results: bench/results/backfill-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine

FRAUDIT = [sys.executable, "-m", "fraudit.cli"]


def peak_tree_rss(process: psutil.Process, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        try:
            tree = [process, *process.children(recursive=True)]
            peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)


def measured(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of a command and its children."""
    started = time.perf_counter()
    process = subprocess.Popen(command)
    peak, stop = [0], threading.Event()
    watcher = threading.Thread(
        target=peak_tree_rss, args=(psutil.Process(process.pid), stop, peak), daemon=True
    )
    watcher.start()
    code = process.wait()
    stop.set()
    watcher.join()
    if code != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed with {code}")
    return time.perf_counter() - started, peak[0]


def run(n: int, work: Path, seed: int) -> dict[str, float]:
    history, out = work / f"history-{n}.parquet", work / f"features-{n}"
    generate = [*FRAUDIT, "generate-cards", "--transactions", str(n), "--seed", str(seed)]
    generated, generate_peak = measured([*generate, "--out", str(history)])
    backfill = [*FRAUDIT, "features", "backfill", "--history", str(history), "--out", str(out)]
    seconds, peak = measured(backfill)
    rows = pq.read_table(out, columns=["transaction_id"]).num_rows
    if rows != n:
        raise SystemExit(f"backfill of {n} rows wrote {rows}")
    return {
        "rows": n,
        "generate_seconds": round(generated, 1),
        "generate_peak_rss_mb": round(generate_peak / 2**20),
        "backfill_seconds": round(seconds, 1),
        "rows_per_second": round(n / seconds),
        "peak_rss_mb": round(peak / 2**20),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250000,500000,1000000")
    parser.add_argument("--quick", action="store_true", help="50k and 100k transactions")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(s) for s in ("50000,100000" if args.quick else args.sizes).split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="fraudit-backfill-") as tmp:
        for n in sizes:
            print(f"backfill of {n:,} transactions", file=sys.stderr, flush=True)
            results.append(run(n, Path(tmp), args.seed))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = REPO / "bench" / "results" / f"backfill-{stamp}.json"
    out.write_text(
        json.dumps({"machine": machine(), "results": results}, indent=2, default=str) + "\n"
    )
    print(
        "| rows | generate-cards s | its peak RSS MB | backfill s | rows/s | peak RSS MB |\n"
        "|---|---|---|---|---|---|"
    )
    for r in results:
        print(
            f"| {r['rows']:,} | {r['generate_seconds']} | {r['generate_peak_rss_mb']:,} | "
            f"{r['backfill_seconds']} | {r['rows_per_second']:,} | {r['peak_rss_mb']:,} |"
        )
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
