"""scripts/generate_data.py and `fraudit simulate --resume` against the real local API
(model server and kinesalite behind it): every row accepted once, the stream holds them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fraudit.data.metadata import MetadataGenerator
from tests.conftest import DEV_CSV, REPO
from tests.support.api import read_stream

pytestmark = pytest.mark.integration


def simulate(*args, script=False):
    command = (
        [sys.executable, str(REPO / "scripts" / "generate_data.py")]
        if script
        else [sys.executable, "-m", "fraudit.cli", "simulate"]
    )
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300, cwd=REPO)


def test_replay_then_resume_sends_each_row_once(api_server, kinesis_emulator, tmp_path):
    state = tmp_path / "state.json"
    common = [
        "--url",
        api_server,
        "--data",
        str(DEV_CSV),
        "--seed",
        "11",
        "--state-file",
        str(state),
        "--rate",
        "50",
        "--concurrency",
        "3",
        "--no-progress",
    ]
    first = simulate(*common, "--requests", "12", script=True)
    assert first.returncode == 0, first.stderr
    assert "sent 12, accepted 12, 4xx 0, 5xx 0, unanswered 0" in first.stderr
    assert "next offset 12" in first.stderr
    second = simulate(*common, "--requests", "8", "--resume")
    assert second.returncode == 0, second.stderr
    assert "resuming at row 12" in second.stderr
    assert "next offset 20" in second.stderr

    meta = MetadataGenerator(seed=11)
    expected = {meta.transaction_id(i) for i in range(20)}
    seen = [
        e["event_id"] for e in read_stream(kinesis_emulator.client()) if e["event_id"] in expected
    ]
    assert sorted(seen) == sorted(expected)  # each row once, none skipped


def test_dry_run_prints_payloads_and_sends_nothing(tmp_path):
    result = simulate(
        "--dry-run",
        "--requests",
        "2",
        "--data",
        str(DEV_CSV),
        "--state-file",
        str(tmp_path / "s.json"),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert all('"transaction_id"' in line for line in lines)
    assert not (tmp_path / "s.json").exists()


def test_an_unreachable_api_is_reported_not_hidden(tmp_path):
    result = simulate(
        "--url",
        "http://127.0.0.1:9",
        "--requests",
        "2",
        "--data",
        str(DEV_CSV),
        "--state-file",
        str(tmp_path / "s.json"),
        "--no-progress",
        "--rate",
        "0",
    )
    assert result.returncode == 1
    assert "unanswered 2" in result.stderr


def test_a_card_history_sent_in_batches_leaves_its_chargebacks_as_a_label_file(
    api_server, kinesis_emulator, tmp_path
):
    from datetime import UTC, datetime, timedelta

    from fraudit.data.card_simulation import CardSimulationConfig, simulate_to_file
    from fraudit.labels.files import read_labels

    # 30 days ending at today's midnight; the last 200 rows fall in the API's 7-day window.
    history = tmp_path / "cards.parquet"
    start = (datetime.now(UTC) - timedelta(days=30)).date()
    config = CardSimulationConfig(transactions=1_000, days=30, start=start, seed=5, fraud_rate=0.1)
    simulate_to_file(config, history, lambda _: None)
    labels = tmp_path / "chargebacks.csv"
    run = simulate(
        "--url", api_server, "--dataset", "cards", "--data", str(history), "--last", "200",
        "--timestamps", "dataset", "--batch", "50", "--rate", "0", "--seed", "77",
        "--concurrency", "2", "--chargebacks-out", str(labels), "--no-progress",
        "--state-file", str(tmp_path / "state.json"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "sent 200, accepted 200, 4xx 0, 5xx 0, unanswered 0" in run.stderr
    ids = {f"card-77-{i}" for i in range(200)}
    seen = {e["event_id"] for e in read_stream(kinesis_emulator.client()) if e["event_id"] in ids}
    assert seen == ids  # each transaction once, through /predict/batch
    import pandas as pd

    frame = pd.read_parquet(history).sort_values("arrival", kind="stable").tail(200)
    frame = frame.reset_index(drop=True)
    frauds = frame.index[frame.is_fraud].tolist()
    assert frauds
    written = read_labels(labels)
    assert sorted(label.event_id for label in written) == sorted(f"card-77-{i}" for i in frauds)
    for label in written:
        row = frame.iloc[int(label.event_id.rsplit("-", 1)[1])]
        assert label.reported_at.timestamp() == int(row.chargeback_time)
        assert label.occurred_at.timestamp() == float(row.event_time)
