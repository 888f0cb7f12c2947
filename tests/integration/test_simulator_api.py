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
