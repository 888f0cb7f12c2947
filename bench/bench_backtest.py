"""Benchmark: `fraudit backtest`'s engine (docs/BACKTESTS.md) over 250k, 500k and 1M stored
card decisions in PostgreSQL, with a 50-rule candidate (25 live, 25 shadow, three lists of
100,000 entries) on local Spark with 2 cores: the wall time of a run (the extract from
PostgreSQL to Parquet, then the replay and the figures on Spark) and how it grows.

The decisions are made here, not scored: card events with the shape the API publishes (the
42 features with their types, scores, a decision, a card among 50,000), 1% of them frauds
with a chargeback label. Their values are drawn, so the rules' hit rates are not a team's;
the cost per event (parsing the stored event, the rules, the aggregation) is what is measured.

    python bench/bench_backtest.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_rules import ruleset  # noqa: E402
from bench.common import machine, write_results  # noqa: E402
from fraudit.backtest.candidate import Candidate  # noqa: E402
from fraudit.backtest.run import BacktestPlan, run_backtest  # noqa: E402
from fraudit.db.connection import connect  # noqa: E402
from fraudit.db.schema import apply_schema  # noqa: E402
from fraudit.decisions import APPROVE, DECLINE, REVIEW  # noqa: E402
from fraudit.features.definitions import CATEGORIES, FEATURE_NAMES, feature_set_version  # noqa: E402
from fraudit.local.pg_cluster import temporary_database  # noqa: E402
from fraudit.rules.fields import FEATURE_TYPES, FieldType  # noqa: E402
from fraudit.scoring.policy import DecisionPolicy  # noqa: E402
from fraudit.stream.spark_session import local_session  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 100
COLUMNS = (
    "event_id", "schema_version", "event_time", "scored_at", "event_minute", "user_id",
    "source", "amount", "fraud_prediction", "fraud_proba", "anomaly_score", "decision",
    "model_version", "policy_version", "payload", "payload_hash", "source_position",
)  # fmt: skip
POLICY = DecisionPolicy(
    version="bench-policy", decline_threshold=0.9, review_threshold=0.6, model_version="bench"
)


def _features(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    out = {}
    for name in FEATURE_NAMES:
        kind = FEATURE_TYPES[name]
        if kind is FieldType.INT:
            out[name] = rng.poisson(2.0, n).astype(float)
        elif kind is FieldType.BOOL:
            out[name] = (rng.random(n) < 0.2).astype(float)
        elif kind is FieldType.STRING:
            out[name] = rng.integers(0, 3, n).astype(float)
        else:
            out[name] = np.round(rng.lognormal(3.5, 1.2, n), 4)
    return out


def _rows(first: int, n: int, seed: int) -> list[tuple[Any, ...]]:
    """n stored card decisions, event times spread evenly over DAYS."""
    rng = np.random.default_rng(seed)
    features = _features(rng, n)
    proba = rng.beta(0.4, 8.0, n)
    amounts = np.round(rng.lognormal(3.6, 1.3, n), 2)
    cards = rng.integers(0, 50_000, n)
    rows = []
    version = feature_set_version()
    for k in range(n):
        index = first + k
        when = START + timedelta(seconds=index * DAYS * 86_400 / TOTAL)
        p = float(proba[k])
        decision = DECLINE if p >= 0.9 else REVIEW if p >= 0.6 else APPROVE
        stamp = when.isoformat().replace("+00:00", "Z")
        event = {
            "schema_version": 2,
            "event_id": f"bt-{index:08d}",
            "timestamp": stamp,
            "scored_at": stamp,
            "user_id": f"holder-{cards[k]}",
            "source": "bench",
            "amount": float(amounts[k]),
            "fraud_prediction": int(p >= 0.9),
            "fraud_proba": p,
            "anomaly_score": float(p * 3),
            "decision": decision,
            "model_version": "bench",
            "policy_version": "bench-policy",
            "card": {
                "card_token": f"card_{cards[k]:06d}",
                "merchant_id": f"m{index % 9_973}",
                "merchant_category": CATEGORIES[index % len(CATEGORIES)],
                "merchant_lat": 40.5,
                "merchant_lon": -74.25,
                "store_arrival": index + 1,
            },
            "features": {name: float(features[name][k]) for name in FEATURE_NAMES},
            "feature_set_version": version,
        }
        payload = json.dumps(event)
        rows.append(
            (
                event["event_id"], 2, when, when, when.replace(second=0, microsecond=0),
                event["user_id"], "bench", event["amount"], event["fraud_prediction"], p,
                event["anomaly_score"], decision, "bench", "bench-policy", payload,
                hashlib.sha256(payload.encode()).hexdigest(), f"bench:{index}",
            )
        )  # fmt: skip
    return rows


TOTAL = 1_000_000


def load(url: str, total: int) -> float:
    """`total` decisions and their 1% chargebacks into the database; seconds taken."""
    started = time.perf_counter()
    conn = connect(url, autocommit=True)
    apply_schema(conn)
    chunk = 100_000
    rng = random.Random(3)
    for first in range(0, total, chunk):
        rows = _rows(first, min(chunk, total - first), seed=first)
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY fraud_predictions ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        labels = [
            (row[0], row[2]) for row in rows if rng.random() < (0.3 if row[9] >= 0.6 else 0.006)
        ]
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY fraud_labels (label_id, event_id, label, source, reported_at, received_by)"
                " FROM STDIN"
            ) as copy,
        ):
            for event_id, when in labels:
                reported = when + timedelta(days=rng.uniform(1, 40))
                copy.write_row(
                    (f"lb-{event_id}", event_id, "fraud", "chargeback", reported, "bench")
                )
        print(f"  loaded {first + len(rows):,} decisions", flush=True)
    conn.execute("ANALYZE fraud_predictions")
    conn.close()
    return time.perf_counter() - started


def main() -> int:
    global TOTAL
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="25k/50k/100k instead")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    TOTAL = 1_000_000 // scale
    sizes = [250_000 // scale, 500_000 // scale, 1_000_000 // scale]
    document = ruleset("rs-bench", 50, random.Random(11))
    candidate = Candidate(
        family="cards",
        ruleset=document.to_json(),
        policy=POLICY.to_json(),
        current_lists=True,
    )
    results: dict[str, Any] = {
        "machine": machine(),
        "rules": len(document.rules),
        "list_entries": sum(len(x.entries) for x in document.lists),
        "runs": [],
    }
    with temporary_database(ADMIN_URL, "fraudit_bench_backtest") as url:
        results["load_seconds"] = round(load(url, TOTAL), 1)
        spark = local_session("fraudit-bench-backtest", "local[2]")
        conn = connect(url, autocommit=True)
        try:
            for size in sizes:
                plan = BacktestPlan(
                    start=START,
                    end=START + timedelta(seconds=size * DAYS * 86_400 / TOTAL),
                    as_of=START + timedelta(days=DAYS + 60),
                    maturity_days=60,
                    review_capacity=100,
                    created_by="bench",
                )
                started = time.perf_counter()
                report = run_backtest(conn, spark, candidate, plan, lambda m: print(m, flush=True))
                seconds = time.perf_counter() - started
                run = {
                    "decisions": report["decisions"],
                    "seconds": round(seconds, 1),
                    "microseconds_per_decision": round(seconds / report["decisions"] * 1e6, 1),
                    "rules_with_hits": len(report["rules"]),
                    "frauds": report["frauds"],
                }
                results["runs"].append(run)
                print(json.dumps(run), flush=True)
        finally:
            conn.close()
            spark.stop()
    path = write_results("backtest", results, args.quick)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
