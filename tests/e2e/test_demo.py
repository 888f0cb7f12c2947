"""`fraudit demo` as a user runs it on a machine with nothing configured: embedded
PostgreSQL, kinesalite, Redis, models trained first (the ULB family and, from a simulated
history, the card family), model server, API, Spark job, dashboard. The test sends traffic
itself (no long-running simulator): ULB vectors and card transactions from the demo's own
replay history, and checks that every accepted /predict is exactly one row in PostgreSQL,
the card rows with their feature snapshot; Ctrl-C stops every process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psycopg
import pytest

from fraudit.data.creditcard import load_creditcard
from fraudit.data.metadata import MetadataGenerator
from fraudit.simulator.run import SimulatorConfig, run
from fraudit.simulator.source import CardReplaySource, ReplaySource, load_card_history
from tests.conftest import DEV_CSV
from tests.support.processes import free_ports

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def wait_for_line(log, pattern, process, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        match = re.search(pattern, text)
        if match:
            return match
        if process.poll() is not None:
            raise AssertionError(f"demo exited ({process.returncode}):\n{text[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{text[-3000:]}")


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_demo_runs_the_whole_pipeline_and_stops_on_ctrl_c(tmp_path):
    names = ("model", "api", "kinesis", "dashboard")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    env = {
        "FRAUDIT_MODEL_DIR": str(tmp_path / "models"),
        "DATABASE_URL": "",
        "FRAUDIT_DATASET_PATH": str(tmp_path / "absent.csv"),
        "FRAUDIT_SYNTHETIC_ROWS": "60000",
    }
    log = tmp_path / "demo.log"
    # Started as `nohup fraudit demo &` would be: SIGINT ignored. Ctrl-C must still work.
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fraudit.cli",
            "demo",
            "--no-simulator",
            "--home",
            str(tmp_path / "demo"),
            "--model-port",
            str(ports["model"]),
            "--api-port",
            str(ports["api"]),
            "--kinesis-port",
            str(ports["kinesis"]),
            "--dashboard-port",
            str(ports["dashboard"]),
        ],
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        wait_for_line(log, r"dashboard at http://\S+", process, timeout=600)
        url = wait_for_line(log, r"DATABASE_URL=(\S+)", process, timeout=5).group(1)
        with urllib.request.urlopen(
            f"http://127.0.0.1:{ports['dashboard']}/_stcore/health", timeout=10
        ) as r:
            assert r.status == 200
        sixty = SimulatorConfig(
            url=f"http://127.0.0.1:{ports['api']}",
            rate=40,
            concurrency=2,
            requests=60,
            progress=False,
        )
        source = ReplaySource(load_creditcard(DEV_CSV), MetadataGenerator(seed=5))
        summary = run(source, sixty)
        assert summary.accepted == 60
        assert summary.sent == 60
        replay = tmp_path / "demo" / "cards" / "replay.parquet"
        cards = CardReplaySource(load_card_history(replay, 200), "demo-test", seed=9)
        assert run(cards, sixty).accepted == 60
        expected = [source.metadata.transaction_id(i) for i in range(60)]
        expected += [f"card-9-{i}" for i in range(60)]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with psycopg.connect(url) as conn:
                rows, distinct, ours, snapshots = conn.execute(
                    "SELECT count(*), count(DISTINCT event_id), "
                    "count(*) FILTER (WHERE event_id = ANY(%s)), "
                    "count(*) FILTER (WHERE schema_version = 2 AND features IS NOT NULL "
                    "AND merchant_category IS NOT NULL) FROM fraud_predictions",
                    (expected,),
                ).fetchone()
            if ours == 120:
                break
            time.sleep(1)
        assert (rows, distinct, ours, snapshots) == (120, 120, 120, 60)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(120)
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert "no trained model yet" in output
    trained = re.search(r"card model trained in (\d+) s", output)
    assert trained, output[-3000:]
    assert "Redis ready" in output
    assert "stopped" in output
    assert all(port_free(p) for p in ports.values()), output[-2000:]
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout == "", leftovers.stdout  # no child outlived the demo
