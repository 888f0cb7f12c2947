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
from fraudit.models.cards.ablation import FULL, ablation
from fraudit.models.cards.sim_to_real import real_later_half
from fraudit.models.cards.table import CardTable, load_card_table
from fraudit.settings import get_settings

FRAUDIT = [sys.executable, "-m", "fraudit.cli"]
FIGURES = ("auprc", "recall_at_budget", "card_precision_at_100", "card_precision_at_share")


def one_seed(seed: int, transactions: int, work: Path, real: CardTable) -> dict[str, object]:
    history, features = work / f"cards-{seed}.parquet", work / f"features-{seed}"
    generate = ["generate-cards", "--transactions", str(transactions), "--seed", str(seed)]
    subprocess.run([*FRAUDIT, *generate, "--out", str(history)], check=True)
    backfill = ["features", "backfill", "--history", str(history), "--out", str(features)]
    subprocess.run([*FRAUDIT, *backfill], check=True)
    started = time.perf_counter()
    table = load_card_table(history, features)
    result = ablation(table, seed=seed, settings=get_settings(), real=real, progress=print)
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
    for point in range(len(runs[0]["row"]["card_precision_curve"])):
        k = runs[0]["row"]["card_precision_curve"][point]["k"]
        row, full, perfect = (
            np.array([r[label]["card_precision_curve"][point][key] for r in runs])
            for label, key in (("row", "precision"), (FULL, "precision"), (FULL, "perfect"))
        )
        diff = full - row
        lines.append(
            f"| card precision at {k} (perfect ranking {perfect.mean():.4f}) | {row.mean():.4f} ± "
            f"{row.std(ddof=1):.4f} | {full.mean():.4f} ± {full.std(ddof=1):.4f} | "
            f"{diff.mean():+.4f} ± {diff.std(ddof=1):.4f} |"
        )
    return lines


def plot(runs: list[dict], path: Path) -> None:
    """Recall per scenario at the review budget, row vs row + history (mean over seeds, the
    spread as error bars), and the full model's TreeSHAP mean |contribution| per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = sorted(runs[0]["row + history"]["by_scenario"])
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.38
    for offset, label in ((-width / 2, "row"), (width / 2, "row + history")):
        values = np.array(
            [[r[label]["by_scenario"][s]["recall_at_budget"] for s in scenarios] for r in runs]
        )
        left.bar(
            np.arange(len(scenarios)) + offset,
            values.mean(axis=0),
            width,
            yerr=values.std(axis=0, ddof=1) if len(runs) > 1 else None,
            label=label,
        )
    left.set_xticks(np.arange(len(scenarios)), [s.replace("_", "\n") for s in scenarios])
    left.set_ylabel("recall at a 0.5% review budget")
    left.set_ylim(0, 1)
    left.legend()
    families = list(runs[0]["family_contributions"])
    shares = np.array([[r["family_contributions"][f] for f in families] for r in runs])
    right.barh(
        families, shares.mean(axis=0), xerr=shares.std(axis=0, ddof=1) if len(runs) > 1 else None
    )
    right.invert_yaxis()
    right.set_xlabel("mean |TreeSHAP contribution| (log-odds), summed per family")
    figure.suptitle(f"Card model on simulated histories, {len(runs)} simulator seeds")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=500_000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--replot", type=Path, help="only redraw the plot from a results file")
    args = parser.parse_args()
    if args.replot:
        runs = json.loads(args.replot.read_text())["runs"]
        print("\n".join(summary(runs)))
        plot(runs, REPO / "docs" / "card-ablation.png")
        return 0
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    real = real_later_half(REPO / "dataset" / "samples" / "sparkov_test_sample.csv.gz")
    with tempfile.TemporaryDirectory(prefix="fraudit-ablation-") as tmp:
        for seed in seeds:
            print(f"seed {seed}: {args.transactions:,} transactions", file=sys.stderr, flush=True)
            runs.append(one_seed(seed, args.transactions, Path(tmp), real))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = REPO / "bench" / "results" / f"card-ablation-{stamp}.json"
    document = {"machine": machine(), "transactions": args.transactions, "runs": runs}
    out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print("\n".join(summary(runs)) if len(runs) > 1 else json.dumps(runs, indent=1))
    plot(runs, REPO / "docs" / "card-ablation.png")
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
