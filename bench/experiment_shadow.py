"""Experiment (issue 32): a candidate card model scoring live traffic in shadow.

The simulated year of bench/experiment_labels_year.py, sent through the local stack in two
parts:

1. its first 270 days, scored by the simulator-trained card model; their chargebacks
   imported;
2. a candidate trained from the store as of day 270 (`fraudit train --dataset cards
   --from-store`) set as the card family's shadow (FRAUDIT_CARD_SHADOW_MODEL_VERSION: the
   model server serves its endpoints, the API calls them beside the live ones); the other
   95 days sent.

Then every chargeback is imported and a backtest of the last 95 days with the shadow model
(`fraudit backtest --shadow-model`) sets the candidate's decisions beside the live ones.
Also measured: the share of events with shadow scores, whether any answer changed (each
stored decision against the live policy on the stored live scores) and the batch latency
without and with the shadow.

    python bench/experiment_shadow.py [--transactions 220000] [--fraud-rate 0.006]

Results: bench/results/shadow-<date>.json; docs/MODELS.md, "A candidate in shadow".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import machine, write_results  # noqa: E402
from bench.local_stack import (  # noqa: E402
    ADMIN_URL,
    LocalStack,
    backtest,
    simulate_year,
    train_live_models,
    wait_for_rows,
)
from fraudit.api.wiring import load_policy, load_shadow_policy  # noqa: E402
from fraudit.backtest.candidate import Candidate  # noqa: E402
from fraudit.backtest.run import BacktestPlan  # noqa: E402
from fraudit.db.connection import connect  # noqa: E402
from fraudit.families.cards import CARDS  # noqa: E402
from fraudit.labels.files import read_labels  # noqa: E402
from fraudit.labels.store import store_labels  # noqa: E402
from fraudit.local.pg_cluster import temporary_database  # noqa: E402
from fraudit.models.cards.from_store import train_from_store  # noqa: E402
from fraudit.models.layout import CANDIDATES_DIR  # noqa: E402
from fraudit.rules.document import empty_ruleset  # noqa: E402
from fraudit.settings import Settings  # noqa: E402

TRAINED_DAYS = 270

SHADOW_COVERAGE = """
SELECT count(*), count(*) FILTER (WHERE payload::jsonb ? 'shadow'),
       count(*) FILTER (WHERE payload::jsonb->'shadow'->>'decision' <> decision)
FROM fraud_predictions WHERE schema_version = 2 AND event_time >= %s
"""
LIVE_SCORES = """
SELECT decision, fraud_proba, anomaly_score FROM fraud_predictions
WHERE schema_version = 2 AND event_time >= %s
"""


def split(history: Path, at: float, work: Path) -> tuple[Path, Path]:
    """The history's transactions before and after `at` (Unix seconds), as two files."""
    import pandas as pd

    frame = pd.read_parquet(history)
    parts = (work / "first.parquet", work / "rest.parquet")
    frame[frame.event_time < at].to_parquet(parts[0])
    frame[frame.event_time >= at].to_parquet(parts[1])
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=220_000)
    parser.add_argument("--fraud-rate", type=float, default=0.006)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fraudit-shadow-"))
    model_dir = work / "models"
    settings = Settings(_env_file=None, model_dir=model_dir)
    say = lambda m: print(m, flush=True)  # noqa: E731
    train_live_models(settings, work, say)
    history, first = simulate_year(work, args.transactions, args.fraud_rate, say)
    cut = first + timedelta(days=TRAINED_DAYS)
    before, after = split(history, cut.timestamp(), work)
    results: dict[str, Any] = {"machine": machine(), "transactions": args.transactions}
    with temporary_database(ADMIN_URL, "fraudit_shadow") as url:
        conn = connect(url, autocommit=True)
        with LocalStack(work, model_dir, url) as stack:
            sent = stack.send(before, chargebacks=work / "chargebacks-first.csv", batch=args.batch)
            loaded = wait_for_rows(url, sent["accepted"], 1800)
            results["first"] = {**sent, "loaded": loaded}
            say(f"first {TRAINED_DAYS} days: {sent['summary']}")
            store_labels(conn, read_labels(work / "chargebacks-first.csv"), "experiment")
            started = time.perf_counter()
            candidate = train_from_store(
                conn,
                settings,
                start=first,
                as_of=cut,
                compare_until=None,
                out_dir=model_dir / CANDIDATES_DIR,
                progress=say,
            )
            results["candidate"] = {
                "version": candidate.version,
                "train_seconds": round(time.perf_counter() - started, 1),
            }
            stack.serve(**{CARDS.variable("shadow_model_version"): candidate.version})
            sent = stack.send(
                after, seed=43, chargebacks=work / "chargebacks-rest.csv", batch=args.batch
            )
            loaded = wait_for_rows(url, results["first"]["loaded"] + sent["accepted"], 1800)
            results["rest"] = {**sent, "loaded": loaded}
            say(f"the rest, with the candidate in shadow: {sent['summary']}")
        store_labels(conn, read_labels(work / "chargebacks-rest.csv"), "experiment")
        events, shadowed, disagree = conn.execute(SHADOW_COVERAGE, (cut,)).fetchone()
        live = load_policy(settings, CARDS)
        assert live is not None
        changed = sum(
            live.decide(p, a) != decision
            for decision, p, a in conn.execute(LIVE_SCORES, (cut,)).fetchall()
        )
        results["shadow"] = {
            "events": events,
            "with_shadow_scores": shadowed,
            "candidate_model_decision_differs": disagree,
            "live_answers_changed": changed,
        }
        say(f"shadow: {results['shadow']}")
        shadow_settings = Settings(
            _env_file=None,
            model_dir=model_dir,
            families={
                CARDS.name: {
                    **CARDS.default_settings().model_dump(),
                    "shadow_model_version": candidate.version,
                }
            },
        )
        policy = load_shadow_policy(shadow_settings, CARDS, candidate.version)
        end = first + timedelta(days=366)
        plan = BacktestPlan(
            start=cut,
            end=end,
            as_of=end + timedelta(days=100),
            maturity_days=settings.label_maturity_days,
            review_capacity=settings.review_capacity,
            created_by="experiment",
        )
        try:
            candidate_model = Candidate(
                family=CARDS.name,
                ruleset=empty_ruleset(cut).to_json(),
                policy=policy.to_json(),
                shadow_model=True,
            )
            results["backtest"] = backtest(conn, candidate_model, plan, say)
        finally:
            conn.close()
    path = write_results("shadow", results, False)
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
