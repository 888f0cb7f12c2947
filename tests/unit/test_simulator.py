"""The simulator's parts: pacing with an injected clock, the resume position, retries
against a misbehaving local server, the summary."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from fraudit.data.creditcard import Dataset
from fraudit.data.metadata import MetadataGenerator
from fraudit.simulator.client import ApiClient
from fraudit.simulator.pacing import Pacer
from fraudit.simulator.run import Position, SimulatorConfig, read_state, run, write_state
from fraudit.simulator.source import ReplaySource

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacer_grants_slots_at_the_rate_without_drift():
    clock = FakeClock()
    pacer = Pacer(4.0, clock=clock, sleep=clock.sleep)
    starts = []
    for i in range(9):
        pacer.wait()
        starts.append(clock.now)
        clock.now += 0.05 if i != 4 else 0.4  # one slow request
    expected = [100 + k * 0.25 for k in range(9)]
    expected[5] = 101.4  # late after the slow one, and the schedule resumes: no drift
    assert starts == pytest.approx(expected)


def test_pacer_restarts_after_a_stall_instead_of_bursting():
    clock = FakeClock()
    pacer = Pacer(10.0, clock=clock, sleep=clock.sleep)
    pacer.wait()
    clock.now += 30.0  # the process was suspended
    before = len(clock.sleeps)
    pacer.wait()
    pacer.wait()
    assert clock.sleeps[before:] == pytest.approx([0.1])  # not 300 requests at once


def test_pacer_holds_a_low_rate_on_the_wall_clock():
    pacer = Pacer(20.0)
    started = time.monotonic()
    for _ in range(11):
        pacer.wait()
    assert 0.45 <= time.monotonic() - started <= 0.9  # 10 intervals of 50 ms, loosely


def test_resume_position_is_the_first_unfinished_row():
    position = Position(10)
    for index in (11, 13, 10):
        position.finished(index)
    assert position.offset == 12  # 12 is still in flight: a resume must resend it
    position.finished(12)
    assert position.offset == 14


def test_state_file_belongs_to_one_replay(tmp_path):
    path = tmp_path / "state.json"
    assert read_state(path, "a") == 0
    write_state(path, "a", 42)
    assert read_state(path, "a") == 42
    with pytest.raises(ValueError, match="another replay"):
        read_state(path, "b")


class FlakyApi:
    """Answers 503 (then 429 with Retry-After) to the first attempts of each transaction,
    400 to row 3, 200 otherwise; drops the connection once. Records every body."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.attempts: dict[str, int] = {}
        self.dropped = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append(body)
                tx = json.loads(body)["metadata"]["transaction_id"]
                n = outer.attempts[tx] = outer.attempts.get(tx, 0) + 1
                if not outer.dropped and len(outer.bodies) == 5:
                    outer.dropped = True
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, headers = 200, {}
                if tx == outer.tx_of_row_3:
                    status = 400
                elif n == 1 and int(tx[-1], 16) % 2 == 0:
                    status = 503
                elif n == 2 and int(tx[-1], 16) % 4 == 0:
                    status, headers = 429, {"Retry-After": "0"}
                answer = json.dumps({"event_id": tx}).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.tx_of_row_3 = ""
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def source():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.arange(40.0), rng.normal(size=(40, 28)), rng.uniform(1, 99, 40)])
    y = (np.arange(40) % 10 == 0).astype(np.int8)
    return ReplaySource(Dataset(X, y, "test-rows"), MetadataGenerator(seed=7))


def test_retries_resend_the_same_body_and_the_summary_adds_up(source, tmp_path):
    api = FlakyApi()
    api.tx_of_row_3 = source.metadata.transaction_id(3)
    try:
        config = SimulatorConfig(
            url=api.url,
            rate=0,
            concurrency=3,
            requests=20,
            state_file=tmp_path / "state.json",
            progress=False,
        )
        summary = run(
            source, config, client_factory=lambda: ApiClient(api.url, sleep=lambda _: None)
        )
    finally:
        api.close()
    assert (summary.sent, summary.accepted, summary.client_errors) == (20, 19, 1)
    assert summary.server_errors == summary.unanswered == 0
    assert summary.retries == len(api.bodies) - 20 > 0
    by_tx: dict[str, set[bytes]] = {}
    for body in api.bodies:
        by_tx.setdefault(json.loads(body)["metadata"]["transaction_id"], set()).add(body)
    assert len(by_tx) == 20
    assert all(len(b) == 1 for b in by_tx.values())
    assert summary.next_offset == 20
    assert read_state(tmp_path / "state.json", source.identity) == 20
    assert len(summary.latencies) == 19
    assert summary.percentile(50) > 0


def test_what_is_not_retried_and_what_gives_up(source):
    calls = []

    def serve(status):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                calls.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    for status, attempts in ((500, 1), (404, 1), (503, 4)):
        calls.clear()
        server = serve(status)
        client = ApiClient(
            f"http://127.0.0.1:{server.server_address[1]}", max_attempts=4, sleep=lambda _: None
        )
        outcome = client.post(source.payload(0))
        client.close()
        server.shutdown()
        assert (outcome.status, outcome.attempts, len(calls)) == (status, attempts, attempts)
    dead = ApiClient("http://127.0.0.1:9", max_attempts=3, sleep=lambda _: None)
    assert (dead.post(b"{}").status, dead.post(b"{}").attempts) == (0, 3)


def test_payloads_are_valid_requests_stable_per_row(source):
    from fraudit.contracts import PredictRequest

    first, again = source.payload(5), source.payload(5)
    a, b = json.loads(first), json.loads(again)
    assert a["metadata"]["transaction_id"] == b["metadata"]["transaction_id"]
    PredictRequest.model_validate(a)
    assert float(a["data"].split(",")[-1]) == pytest.approx(source.dataset.X[5, -1])
