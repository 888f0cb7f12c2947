"""Does the card history matter? For each simulator seed: `fraudit generate-cards`,
`fraudit features backfill`, then the ablation (fraudit.models.cards.ablation): the same
label-delay split, a classifier on the row features alone and one on row + history.

    python bench/bench_card_ablation.py [--transactions 500000] [--seeds 0,1,2]

Results: bench/results/card-ablation-<time>.json and a table of each figure's mean and sd
over the seeds, with the paired difference (row + history minus row).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine
from fraudit.models.cards.ablation import ablation
from fraudit.models.cards.table import load_card_table

FRAUDIT = [sys.executable, "-m", "fraudit.cli"]
FIGURES = ("auprc", "recall_at_budget", "card_precision_at_100")


def one_seed(seed: int, transactions: int, work: Path) -> dict[str, object]:
    history, features = work / f"cards-{seed}.parquet", work / f"features-{seed}"
    generate = ["generate-cards", "--transactions", str(transactions), "--seed", str(seed)]
    subprocess.run([*FRAUDIT, *generate, "--out", str(history)], check=True)
    backfill = ["features", "backfill", "--history", str(history), "--out", str(features)]
    subprocess.run([*FRAUDIT, *backfill], check=True)
    started = time.perf_counter()
    result = ablation(load_card_table(history, features), seed=seed, progress=print)
    return {"seed": seed, "seconds": round(time.perf_counter() - started, 1), **result}


def summary(runs: list[dict]) -> list[str]:
    lines = ["| figure | row | row + history | difference |", "|---|---|---|---|"]
    for figure in FIGURES:
        row = np.array([r["row"][figure] for r in runs])
        full = np.array([r["row + history"][figure] for r in runs])
        diff = full - row
        lines.append(
            f"| {figure} | {row.mean():.4f} ± {row.std(ddof=1):.4f} | "
            f"{full.mean():.4f} ± {full.std(ddof=1):.4f} | "
            f"{diff.mean():+.4f} ± {diff.std(ddof=1):.4f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=500_000)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    with tempfile.TemporaryDirectory(prefix="fraudit-ablation-") as tmp:
        for seed in seeds:
            print(f"seed {seed}: {args.transactions:,} transactions", file=sys.stderr, flush=True)
            runs.append(one_seed(seed, args.transactions, Path(tmp)))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = REPO / "bench" / "results" / f"card-ablation-{stamp}.json"
    document = {"machine": machine(), "transactions": args.transactions, "runs": runs}
    out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print("\n".join(summary(runs)) if len(runs) > 1 else json.dumps(runs, indent=1))
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
