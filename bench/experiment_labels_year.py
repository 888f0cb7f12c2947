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
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import DEV_CSV, local_api_env, machine, write_results  # noqa: E402
from fraudit.api.wiring import load_policy  # noqa: E402
from fraudit.backtest.candidate import Candidate  # noqa: E402
from fraudit.backtest.run import BacktestPlan, run_backtest  # noqa: E402
from fraudit.data.card_simulation import CardSimulationConfig, simulate_to_file  # noqa: E402
from fraudit.db.connection import connect  # noqa: E402
from fraudit.decisions import RuleAction  # noqa: E402
from fraudit.families import family  # noqa: E402
from fraudit.labels.files import read_labels  # noqa: E402
from fraudit.labels.store import maturity, store_labels  # noqa: E402
from fraudit.local.kinesis_emulator import KinesisEmulator  # noqa: E402
from fraudit.local.pg_cluster import temporary_database  # noqa: E402
from fraudit.local.redis_server import PrivateRedis  # noqa: E402
from fraudit.models.cards.from_scratch import card_model_from_scratch  # noqa: E402
from fraudit.models.cards.from_store import train_from_store  # noqa: E402
from fraudit.models.ulb.train import run_training  # noqa: E402
from fraudit.rules.document import PublishedRule, RulesetDocument  # noqa: E402
from fraudit.settings import DEFAULT_STREAM_NAME, Settings  # noqa: E402
from fraudit.stream.spark_session import local_session  # noqa: E402
from tests.support.processes import fraudit_process, free_ports, stop, wait_for_http  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
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


def wait_for_rows(url: str, expected: int, limit_seconds: float) -> int:
    conn = connect(url, autocommit=True)
    deadline = time.monotonic() + limit_seconds
    try:
        while True:
            try:
                (rows,) = conn.execute("SELECT count(*) FROM fraud_predictions").fetchone()
            except Exception:  # the stream job has not made the table yet
                rows = 0
            if rows >= expected or time.monotonic() > deadline:
                return int(rows)
            time.sleep(2)
    finally:
        conn.close()


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
    say(f"training the models in {model_dir}")
    run_training(
        settings, data_path=DEV_CSV if DEV_CSV.is_file() else None, progress=lambda m: None
    )
    card_model_from_scratch(work / "cards", settings, 60_000, say=lambda m: None)
    start = (datetime.now(UTC) - timedelta(days=400)).date()
    history = work / "year.parquet"
    simulate_to_file(
        CardSimulationConfig(
            transactions=args.transactions,
            days=365,
            start=start,
            seed=21,
            fraud_rate=args.fraud_rate,
        ),
        history,
        say,
    )
    results: dict[str, Any] = {"machine": machine(), "transactions": args.transactions}
    emulator = KinesisEmulator(REPO / ".fraudit" / "node", log_path=work / "kinesalite.log")
    emulator.start()
    emulator.create_stream(DEFAULT_STREAM_NAME, shards=2)
    redis_port, model_port, api_port = free_ports(3)
    redis_server = PrivateRedis(redis_port, work / "redis.log")
    redis_server.start()
    processes = []
    with temporary_database(ADMIN_URL, "fraudit_labels_year") as url:
        try:
            processes.append(
                fraudit_process(
                    ["serve-models", "--model-dir", str(model_dir), "--port", str(model_port)],
                    {},
                    work / "models.log",
                )
            )
            wait_for_http(f"http://127.0.0.1:{model_port}/ping", processes[-1])
            env = local_api_env(
                f"http://127.0.0.1:{model_port}",
                emulator.url,
                model_dir,
                redis_server.url,
                FRAUDIT_MAX_EVENT_AGE_DAYS="800",
                FRAUDIT_RULESET_URI=str(work / "no-ruleset.json"),
                DATABASE_URL=url,
            )
            processes.append(
                fraudit_process(
                    ["api", "--port", str(api_port), "--workers", "2"], env, work / "api.log"
                )
            )
            wait_for_http(f"http://127.0.0.1:{api_port}/health", processes[-1])
            processes.append(
                fraudit_process(
                    ["stream", "--checkpoint-dir", str(work / "checkpoint")],
                    env,
                    work / "stream.log",
                )
            )
            chargebacks = work / "chargebacks.csv"
            started = time.perf_counter()
            sent = subprocess.run(
                [
                    sys.executable, "-m", "fraudit.cli", "simulate", "--dataset", "cards",
                    "--data", str(history), "--timestamps", "dataset", "--batch",
                    str(args.batch), "--rate", "0", "--concurrency", "4", "--no-progress",
                    "--url", f"http://127.0.0.1:{api_port}", "--chargebacks-out",
                    str(chargebacks), "--state-file", str(work / "state.json"),
                ],
                capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO / "src")},
            )  # fmt: skip
            say(sent.stderr.strip().splitlines()[-2] if sent.stderr else "no output")
            if sent.returncode != 0:
                say(sent.stderr)
                return 1
            results["send_seconds"] = round(time.perf_counter() - started, 1)
            accepted = int(re.findall(r"accepted (\d+)", sent.stderr)[-1])
            results["accepted"] = accepted
            loaded = wait_for_rows(url, accepted, 1800)
            results["loaded"] = loaded
            results["load_seconds"] = round(time.perf_counter() - started, 1)
            say(f"{loaded:,} decisions loaded in {results['load_seconds']} s")
        finally:
            for process in reversed(processes):
                stop(process)
            redis_server.stop()
            emulator.stop()
        conn = connect(url, autocommit=True)
        labels = read_labels(chargebacks)
        stored = store_labels(conn, labels, "experiment")
        results["labels"] = {
            "rows": len(labels),
            "new": stored.new,
            "unknown": stored.unknown_events,
        }
        say(stored.summary())
        first = datetime.combine(start, datetime.min.time(), UTC)
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
        spark = local_session("fraudit-labels-year", "local[2]")
        try:
            report = run_backtest(conn, spark, candidate, plan, say)
        finally:
            spark.stop()
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
        from fraudit.backtest.report import report_lines

        say("\n".join(report_lines(report)))
        results["backtest"] = {
            "live": report["configurations"]["live"]["totals"],
            "candidate": report["configurations"]["candidate"]["totals"],
            "rules": report["rules"],
            "frauds": report["frauds"],
            "decisions": report["decisions"],
            "seconds": report["seconds"],
        }
    path = write_results("labels-year", results, False)
    say(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
