"""`fraudit stream` as a user runs it: events put on the stream appear in PostgreSQL."""

from __future__ import annotations

import signal
import time

import psycopg
import pytest

from tests.support.processes import fraudit_process
from tests.support.stream_records import event_record

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_fraudit_stream_loads_events_and_stops_on_ctrl_c(kinesis_emulator, database, tmp_path):
    kinesis_emulator.create_stream("cli-stream", shards=2)
    kinesis = kinesis_emulator.client()
    kinesis.put_records(
        StreamName="cli-stream",
        Records=[{"Data": event_record(i)[0], "PartitionKey": str(i)} for i in range(30)],
    )
    log = tmp_path / "stream.log"
    process = fraudit_process(
        [
            "stream",
            "--stream-name",
            "cli-stream",
            "--endpoint-url",
            kinesis_emulator.url,
            "--checkpoint-dir",
            str(tmp_path / "cp"),
            "--database-url",
            database,
            "--trigger-interval",
            "500 milliseconds",
        ],
        {},
        log,
    )
    try:
        deadline, rows = time.monotonic() + 120, 0
        while time.monotonic() < deadline and rows < 30:
            time.sleep(1)
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                with psycopg.connect(database) as conn:
                    rows = conn.execute("SELECT count(*) FROM fraud_predictions").fetchone()[0]
            except psycopg.errors.UndefinedTable:
                rows = 0
        assert rows == 30, log.read_text()[-3000:]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(60)
    assert code == 0, log.read_text()[-3000:]
