"""The local stack the experiments send simulated card histories through: kinesalite, a
private Redis, the model server, `fraudit api` (2 workers) and the stream job into a
database. The model server and the API restart with other settings (a candidate in shadow,
say) while Redis, the stream and the database keep going, as a deployment's would."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.common import DEV_CSV, REPO, local_api_env
from fraudit.backtest.candidate import Candidate
from fraudit.backtest.report import report_lines
from fraudit.backtest.run import BacktestPlan, run_backtest
from fraudit.data.card_simulation import CardSimulationConfig, simulate_to_file
from fraudit.db.connection import connect
from fraudit.local.kinesis_emulator import KinesisEmulator
from fraudit.local.redis_server import PrivateRedis
from fraudit.models.cards.from_scratch import card_model_from_scratch
from fraudit.models.ulb.train import run_training
from fraudit.settings import DEFAULT_STREAM_NAME, Settings
from fraudit.stream.spark_session import local_session
from tests.support.processes import fraudit_process, free_ports, stop, wait_for_http


def train_live_models(settings: Settings, work: Path, say: Callable[[str], None]) -> None:
    """The models the stack serves: the ULB family on the committed rows, the card family
    on a simulated history of 60,000 transactions."""
    say(f"training the models in {settings.model_dir}")
    data = DEV_CSV if DEV_CSV.is_file() else None
    run_training(settings, data_path=data, progress=lambda m: None)
    card_model_from_scratch(work / "cards", settings, 60_000, say=lambda m: None)


def simulate_year(
    work: Path, transactions: int, fraud_rate: float, say: Callable[[str], None]
) -> tuple[Path, datetime]:
    """A simulated year of card transactions ending about 35 days ago (seed 21), and its
    first day."""
    start = (datetime.now(UTC) - timedelta(days=400)).date()
    history = work / "year.parquet"
    config = CardSimulationConfig(
        transactions=transactions, days=365, start=start, seed=21, fraud_rate=fraud_rate
    )
    simulate_to_file(config, history, say)
    return history, datetime.combine(start, datetime.min.time(), UTC)


def backtest(
    conn: Any, candidate: Candidate, plan: BacktestPlan, say: Callable[[str], None]
) -> dict[str, Any]:
    """A backtest on local Spark (2 cores), its report printed; the figures kept of it."""
    spark = local_session("fraudit-experiment-backtest", "local[2]")
    try:
        report = run_backtest(conn, spark, candidate, plan, say)
    finally:
        spark.stop()
    say("\n".join(report_lines(report)))
    return {
        "live": report["configurations"]["live"]["totals"],
        "candidate": report["configurations"]["candidate"]["totals"],
        "rules": report["rules"],
        "frauds": report["frauds"],
        "decisions": report["decisions"],
        "left_out": report["unreadable"],
        "other_model_version": report["other_model_version"],
        "seconds": report["seconds"],
    }


ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"  # where a temporary database is made


def wait_for_rows(url: str, expected: int, limit_seconds: float) -> int:
    """The rows of fraud_predictions once there are `expected` (or the limit passed)."""
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


class LocalStack:
    def __init__(
        self, work: Path, model_dir: Path, database_url: str | None, **settings: str
    ) -> None:
        """Without `database_url`, no stream job: the events stay on the stream."""
        self.work, self.model_dir, self.database_url = work, model_dir, database_url
        # FRAUDIT_* of the API and the model server: histories replayed at their own times
        # (a year old at most), no ruleset unless one is given.
        self.settings = {
            "FRAUDIT_MAX_EVENT_AGE_DAYS": "800",
            "FRAUDIT_RULESET_URI": str(work / "no-ruleset.json"),
            **settings,
        }
        self.emulator = KinesisEmulator(
            REPO / ".fraudit" / "node", log_path=work / "kinesalite.log"
        )
        redis_port, self.model_port, self.api_port = free_ports(3)
        self.redis = PrivateRedis(redis_port, work / "redis.log")
        self.serving: list[Any] = []  # the model server and the API
        self.stream: Any = None
        self.restarts = 0

    def env(self) -> dict[str, str]:
        return local_api_env(
            f"http://127.0.0.1:{self.model_port}",
            self.emulator.url,
            self.model_dir,
            self.redis.url,
            **({"DATABASE_URL": self.database_url} if self.database_url else {}),
            **self.settings,
        )

    def __enter__(self) -> LocalStack:
        self.emulator.start()
        self.emulator.create_stream(DEFAULT_STREAM_NAME, shards=2)
        self.redis.start()
        self.serve()
        if self.database_url is not None:
            self.stream = fraudit_process(
                ["stream", "--checkpoint-dir", str(self.work / "checkpoint")],
                self.env(),
                self.work / "stream.log",
            )
        return self

    def serve(self, **settings: str) -> None:
        """(Re)start the model server and the API with `settings` added."""
        for process in reversed(self.serving):
            stop(process)
        self.settings |= settings
        self.restarts += 1
        env, logs = self.env(), self.work / f"serving-{self.restarts}"
        logs.mkdir()
        models = fraudit_process(
            ["serve-models", "--model-dir", str(self.model_dir), "--port", str(self.model_port)],
            env,
            logs / "models.log",
        )
        wait_for_http(f"http://127.0.0.1:{self.model_port}/ping", models)
        api = fraudit_process(
            ["api", "--port", str(self.api_port), "--workers", "2"], env, logs / "api.log"
        )
        self.serving = [models, api]
        wait_for_http(f"http://127.0.0.1:{self.api_port}/health", api)

    def send(
        self,
        history: Path,
        *,
        seed: int = 42,
        chargebacks: Path | None = None,
        batch: int | None = None,
        requests: int | None = None,
        concurrency: int = 4,
    ) -> dict[str, Any]:
        """Transactions of `history` through the API as fast as it answers: with
        `chargebacks`, at their own times (their chargebacks written there as a label
        file), else stamped when sent; `batch` at a time through /predict/batch, else one
        per /predict. What the simulator measured (latency per request or per batch). The
        transaction ids are `card-<seed>-<row>`: each send to the same stack needs its own
        seed."""
        command = [
            sys.executable, "-m", "fraudit.cli", "simulate", "--dataset", "cards",
            "--data", str(history), "--rate", "0", "--concurrency", str(concurrency),
            "--no-progress", "--seed", str(seed), "--url", f"http://127.0.0.1:{self.api_port}",
            "--state-file", str(self.work / f"simulator-{seed}.json"),
        ]  # fmt: skip
        if chargebacks is not None:
            command += ["--timestamps", "dataset", "--chargebacks-out", str(chargebacks)]
        if batch is not None:
            command += ["--batch", str(batch)]
        if requests is not None:
            command += ["--requests", str(requests)]
        started = time.perf_counter()
        env = {**self.env(), "PYTHONPATH": str(REPO / "src")}
        sent = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if sent.returncode != 0:
            raise RuntimeError(sent.stderr[-3000:])
        summary = [line for line in sent.stderr.splitlines() if "accepted" in line][-1]
        latency = re.search(r"p50 ([\d.]+) ms, p95 ([\d.]+) ms, p99 ([\d.]+) ms", summary)
        rate = re.search(r"([\d.]+) req/s", summary)
        return {
            "accepted": int(re.findall(r"accepted (\d+)", sent.stderr)[-1]),
            "send_seconds": round(time.perf_counter() - started, 1),
            "requests_per_second": float(rate.group(1)) if rate else None,
            "latency_ms": (
                {k: float(v) for k, v in zip(("p50", "p95", "p99"), latency.groups(), strict=True)}
                if latency
                else None
            ),
            "summary": summary,
        }

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for process in [self.stream, *reversed(self.serving)]:
            if process is not None:
                stop(process)
        self.redis.stop()
        self.emulator.stop()
