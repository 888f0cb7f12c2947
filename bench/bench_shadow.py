"""Benchmark: what a candidate model in shadow costs the API's answers.

The local stack (bench/local_stack.py: kinesalite, Redis, the model server, `fraudit api`
with 2 workers; no stream job) serves the card family's model. A second card model, trained
the same way into the candidates folder, is its candidate: the same kind of model, so the
same cost per call as a real candidate of the family. Card transactions of a simulated
history, stamped when sent, go through POST /predict from 8 concurrent clients, alternately
without and with the candidate in shadow (the model server and the API restarted for each),
for several rounds: each run's per-request p50/p95/p99 and throughput.

    python bench/bench_shadow.py [--requests 3000] [--rounds 3]

Results: bench/results/shadow-latency-<date>.json; docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import machine, write_results  # noqa: E402
from bench.local_stack import LocalStack, train_live_models  # noqa: E402
from fraudit.families.cards import CARDS  # noqa: E402
from fraudit.models.cards.from_scratch import card_model_from_scratch, simulate_history  # noqa: E402
from fraudit.models.layout import CANDIDATES_DIR, family_root, resolve_version  # noqa: E402
from fraudit.settings import Settings  # noqa: E402

MODES = ("live only", "with a candidate in shadow")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fraudit-shadow-latency-"))
    model_dir = work / "models"
    say = lambda m: print(m, flush=True)  # noqa: E731
    train_live_models(Settings(_env_file=None, model_dir=model_dir), work, say)
    candidates = Settings(_env_file=None, model_dir=model_dir / CANDIDATES_DIR)
    card_model_from_scratch(work / "candidate", candidates, 60_000, say=lambda m: None)
    candidate = resolve_version(family_root(model_dir / CANDIDATES_DIR, CARDS), None, CARDS)
    # A month of about 220 cards: the first `requests` transactions in arrival order are sent.
    traffic = simulate_history(work / "traffic.parquet", 20_000, seed=9, days=30, say=say)
    variable = CARDS.variable("shadow_model_version")
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    with LocalStack(work, model_dir, None) as stack:
        for round_ in range(args.rounds):
            order = MODES if round_ % 2 == 0 else MODES[::-1]  # neither always goes first
            for mode in order:
                stack.serve(**{variable: candidate if mode == MODES[1] else ""})
                seed = 100 + 2 * round_ + MODES.index(mode)
                sent = stack.send(
                    traffic, seed=seed, requests=args.requests, concurrency=args.clients
                )
                if sent["accepted"] != args.requests:
                    raise RuntimeError(f"{mode}: {sent['summary']}")
                say(f"round {round_ + 1}, {mode}: {sent['summary']}")
                runs[mode].append(sent)
    results: dict[str, Any] = {
        "machine": machine(),
        "requests": args.requests,
        "clients": args.clients,
        "candidate": candidate,
        "runs": runs,
    }
    for mode in MODES:
        results[mode] = {
            key: statistics.median(r["latency_ms"][key] for r in runs[mode])
            for key in ("p50", "p95", "p99")
        } | {"requests_per_second": statistics.median(r["requests_per_second"] for r in runs[mode])}
        say(f"{mode} (median of {args.rounds} runs): {results[mode]}")
    path = write_results("shadow-latency", results, False)
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
