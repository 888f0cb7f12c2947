"""Experiment (issue 32): a simulated year of card transactions sent through the local
stack's /predict/batch with the history's own times, loaded by the stream job, its
chargeback file imported; then

- the arrival curve of the chargebacks (`fraudit labels maturity`) beside the simulator's
  own delay distribution, at every day d;
- a backtest of a card-testing rule, beside the model alone (the live run had no rule);
- the card model retrained from the store (the first 270 days, labels as reported by then)
  beside the simulator-trained model that scored the traffic, on the remaining days.

    python bench/experiment_labels_year.py [--transactions 220000] [--fraud-rate 0.006]

Results: bench/results/labels-year-<date>.json. docs/MODELS.md, "Labels and backtests on a
simulated year", reports them.
"""

from __future__ import annotations

import argparse
import math
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
from fraudit.api.wiring import load_policy  # noqa: E402
from fraudit.backtest.candidate import Candidate  # noqa: E402
from fraudit.backtest.run import BacktestPlan  # noqa: E402
from fraudit.db.connection import connect  # noqa: E402
from fraudit.decisions import RuleAction  # noqa: E402
from fraudit.families import family  # noqa: E402
from fraudit.labels.files import read_labels  # noqa: E402
from fraudit.labels.store import maturity, store_labels  # noqa: E402
from fraudit.local.pg_cluster import temporary_database  # noqa: E402
from fraudit.models.cards.from_store import train_from_store  # noqa: E402
from fraudit.rules.document import PublishedRule, RulesetDocument  # noqa: E402
from fraudit.settings import Settings  # noqa: E402

CARD_TESTING = "card_count_1h >= 2 && card_amount_max_1h < 10.0 && amount < 10.0"
DAY = 86_400


def simulator_curve(history: Path, sent: int) -> dict[int, float]:
    """The simulator's own delays of the frauds sent: share reported within d days."""
    import pandas as pd

    frame = pd.read_parquet(history).sort_values("arrival", kind="stable").head(sent)
    frauds = frame[frame.is_fraud]
    days = [
        max(0, math.ceil((int(c) - float(t)) / DAY))
        for c, t in zip(frauds.chargeback_time, frauds.event_time, strict=True)
    ]
    longest = max(days)
    return {d: sum(1 for x in days if x <= d) / len(days) for d in range(longest + 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=220_000)
    parser.add_argument("--fraud-rate", type=float, default=0.006)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fraudit-labels-year-"))
    model_dir = work / "models"
    settings = Settings(_env_file=None, model_dir=model_dir)
    say = lambda m: print(m, flush=True)  # noqa: E731
    train_live_models(settings, work, say)
    history, first = simulate_year(work, args.transactions, args.fraud_rate, say)
    results: dict[str, Any] = {"machine": machine(), "transactions": args.transactions}
    chargebacks = work / "chargebacks.csv"
    with temporary_database(ADMIN_URL, "fraudit_labels_year") as url:
        no_rules = {"FRAUDIT_RULESET_URI": str(work / "no-ruleset.json")}
        with LocalStack(
            work, model_dir, url, FRAUDIT_MAX_EVENT_AGE_DAYS="800", **no_rules
        ) as stack:
            started = time.perf_counter()
            sent = stack.send(history, chargebacks=chargebacks, batch=args.batch)
            say(sent["summary"])
            results |= {k: sent[k] for k in ("accepted", "send_seconds")}
            results["loaded"] = wait_for_rows(url, sent["accepted"], 1800)
            results["load_seconds"] = round(time.perf_counter() - started, 1)
            say(f"{results['loaded']:,} decisions loaded in {results['load_seconds']} s")
        conn = connect(url, autocommit=True)
        labels = read_labels(chargebacks)
        stored = store_labels(conn, labels, "experiment")
        results["labels"] = {
            "rows": len(labels),
            "new": stored.new,
            "unknown": stored.unknown_events,
        }
        say(stored.summary())
        end = first + timedelta(days=366)
        as_of = end + timedelta(days=100)
        found = maturity(conn, first, end, as_of, settings.label_maturity_days)
        measured = found.curves["chargeback"]
        truth = simulator_curve(history, args.transactions)
        gaps = {d: abs(measured.share_within(d) - share) for d, share in truth.items()}
        results["maturity"] = {
            "frauds": measured.frauds,
            "largest_gap_pp": round(100 * max(gaps.values()), 3),
            "at_largest_gap_day": max(gaps, key=gaps.__getitem__),
            "curve": {d: round(measured.share_within(d), 4) for d in range(0, 91, 5)},
            "simulator": {d: round(truth.get(d, 1.0), 4) for d in range(0, 91, 5)},
            "day_reaching": {str(s): measured.day_reaching(s) for s in (0.5, 0.9, 0.95, 0.99)},
        }
        say("\n".join(found.lines(range(0, 91, 10))))
        policy = load_policy(settings, family("cards"))
        assert policy is not None
        rule = PublishedRule(
            rule_id="card_testing", version=1, family="cards", state="live",
            action=RuleAction.DECLINE, priority=10, expression=CARD_TESTING,
            reason="small amounts in a burst on one card",
        )  # fmt: skip
        candidate = Candidate(
            family="cards",
            ruleset=RulesetDocument(
                version="rs-card-testing", published_at=as_of, rules=(rule,)
            ).to_json(),
            policy=policy.to_json(),
        )
        plan = BacktestPlan(
            start=first,
            end=end,
            as_of=as_of,
            maturity_days=settings.label_maturity_days,
            review_capacity=settings.review_capacity,
            created_by="experiment",
        )
        results["backtest"] = backtest(conn, candidate, plan, say)
        # Retrained on the store: the decisions of the first 270 days with the labels reported
        # by then, beside the simulator-trained model on the rest, labelled as of the end.
        try:
            retrained = train_from_store(
                conn,
                settings,
                start=first,
                as_of=first + timedelta(days=270),
                compare_until=as_of,
                out_dir=work / "candidates",
                progress=say,
            )
        finally:
            conn.close()
        results["retrained"] = {"version": retrained.version, **retrained.comparison}
    path = write_results("labels-year", results, False)
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
