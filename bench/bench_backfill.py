"""How `fraudit features backfill` grows with the history: wall time and peak memory (the
whole process tree: Python driver and Spark's JVM) at several sizes.

    python bench/bench_backfill.py [--sizes 250000,500000,1000000]

The histories are random (tests/support/card_histories.py: shared merchants, devices and
IPs, same-second ties, 10% late arrivals) at a fixed density per card, not yet the
calibrated card simulator, which does not exist yet. Results: bench/results/backfill-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine
from tests.support.card_histories import random_history

# Transactions per card over a year: ~1 a day, as Sparkov's cards (1,000 cards, ~2.5 a day
# over two years) within a factor of three.
TRANSACTIONS_PER_CARD = 400
DAYS = 365


def write_history(n: int, path: Path, seed: int) -> None:
    history = random_history(n, seed=seed, cards=max(50, n // TRANSACTIONS_PER_CARD), days=DAYS)
    columns = {name: [getattr(t, name) for t in history] for name in asdict(history[0])}
    pq.write_table(pa.table(columns), path)


def peak_tree_rss(process: psutil.Process, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        try:
            tree = [process, *process.children(recursive=True)]
            peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)


def run(n: int, work: Path, seed: int) -> dict[str, float]:
    history, out = work / f"history-{n}.parquet", work / f"features-{n}"
    started = time.perf_counter()
    write_history(n, history, seed)
    generated = time.perf_counter() - started
    command = [sys.executable, "-m", "fraudit.cli", "features", "backfill"]
    started = time.perf_counter()
    process = subprocess.Popen([*command, "--history", str(history), "--out", str(out)])
    peak, stop = [0], threading.Event()
    watcher = threading.Thread(
        target=peak_tree_rss, args=(psutil.Process(process.pid), stop, peak), daemon=True
    )
    watcher.start()
    code = process.wait()
    stop.set()
    watcher.join()
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"backfill of {n} rows failed with {code}")
    rows = pq.read_table(out, columns=["transaction_id"]).num_rows
    if rows != n:
        raise SystemExit(f"backfill of {n} rows wrote {rows}")
    return {
        "rows": n,
        "generate_seconds": round(generated, 1),
        "backfill_seconds": round(seconds, 1),
        "rows_per_second": round(n / seconds),
        "peak_rss_mb": round(peak[0] / 2**20),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250000,500000,1000000")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
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
    print("| rows | backfill s | rows/s | peak RSS MB |\n|---|---|---|---|")
    for r in results:
        print(
            f"| {r['rows']:,} | {r['backfill_seconds']} | {r['rows_per_second']:,} | "
            f"{r['peak_rss_mb']:,} |"
        )
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
