"""The replay: sender threads with keep-alive connections, a shared pace, a progress line,
a resumable position, and a closing summary."""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from fraudit.simulator.client import ApiClient, Outcome
from fraudit.simulator.pacing import Pacer
from fraudit.simulator.source import Source

MAX_BATCH = 500  # the API's largest batch (FRAUDIT_API_MAX_BATCH)


@dataclass(frozen=True)
class SimulatorConfig:
    url: str
    rate: float = 20.0  # requests/s over all threads; 0 = as fast as possible
    concurrency: int = 4
    requests: int | None = None  # stop after this many (default: to the dataset's end)
    duration: float | None = None  # or after this many seconds
    start: int = 0  # first dataset row
    api_key: str | None = None
    timeout: float = 10.0
    max_attempts: int = 5
    state_file: Path | None = None  # where the resume position is kept
    progress: bool = True
    # Transactions per request: 1 posts /predict; more post /predict/batch (the rate is
    # then in requests, each of `batch` transactions).
    batch: int = 1

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.rate < 0 or self.start < 0:
            raise ValueError("concurrency must be >= 1, rate >= 0, start >= 0")
        if not 1 <= self.batch <= MAX_BATCH:
            raise ValueError(f"batch must be 1 to {MAX_BATCH}")
        if self.requests is not None and self.requests < 1:
            raise ValueError("requests must be >= 1")


@dataclass
class Summary:
    sent: int = 0
    accepted: int = 0
    client_errors: int = 0
    server_errors: int = 0
    unanswered: int = 0
    retries: int = 0
    seconds: float = 0.0
    next_offset: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.sent += 1
        self.retries += outcome.attempts - 1
        if outcome.status == 200:
            self.accepted += 1
            self.latencies.append(outcome.seconds)
        elif 400 <= outcome.status < 500:
            self.client_errors += 1
        elif outcome.status >= 500:
            self.server_errors += 1
        else:
            self.unanswered += 1

    def percentile(self, q: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        return (
            f"sent {self.sent}, accepted {self.accepted}, 4xx {self.client_errors}, "
            f"5xx {self.server_errors}, unanswered {self.unanswered}, retries "
            f"{self.retries}; {self.rate:.1f} req/s over {self.seconds:.1f} s; latency "
            f"p50 {self.percentile(50) * 1000:.1f} ms, p95 {self.percentile(95) * 1000:.1f}"
            f" ms, p99 {self.percentile(99) * 1000:.1f} ms; next offset {self.next_offset}"
        )


class Position:
    """Rows finish out of order across threads; the resume offset is the first row not
    finished, so a resume never skips a row (it may resend one, idempotently)."""

    def __init__(self, start: int) -> None:
        self.offset = start
        self._done: set[int] = set()
        self._lock = threading.Lock()

    def finished(self, index: int) -> None:
        with self._lock:
            self._done.add(index)
            while self.offset in self._done:
                self._done.remove(self.offset)
                self.offset += 1


def read_state(path: Path, identity: str) -> int:
    """The saved next offset for this source; 0 when there is no state yet."""
    if not path.is_file():
        return 0
    state = json.loads(path.read_text())
    if state.get("source") != identity:
        raise ValueError(
            f"{path} belongs to another replay ({state.get('source')}); remove it or drop --resume"
        )
    return int(state["next_offset"])


def write_state(path: Path, identity: str, offset: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"source": identity, "next_offset": offset}))
    tmp.replace(path)


class _Cursor:
    """Hands out request indexes to the sender threads, one each, until the end of the rows,
    the deadline or `stop`."""

    def __init__(self, start: int, end: int, deadline: float | None, stop: threading.Event) -> None:
        self._next, self._end, self._deadline, self._stop = start, end, deadline, stop
        self._lock = threading.Lock()

    def claim(self) -> int | None:
        claimed = self.claim_many(1)
        return claimed[0] if claimed else None

    def claim_many(self, n: int) -> list[int]:
        """Up to n consecutive indexes; none when the replay is over."""
        with self._lock:
            if (
                self._stop.is_set()
                or self._next >= self._end
                or (self._deadline is not None and time.monotonic() >= self._deadline)
            ):
                return []
            first, self._next = self._next, min(self._end, self._next + n)
            return list(range(first, self._next))


def send_batch(
    client: ApiClient, source: Source, indices: list[int], attempts: int
) -> list[Outcome]:
    """One /predict/batch request for `indices`, then again for the items answered 503
    (each item's transaction_id makes a resend idempotent): each item's final outcome."""
    started = time.perf_counter()
    outcomes: dict[int, Outcome] = {}
    pending = list(indices)
    for attempt in range(1, attempts + 1):
        body = b'{"transactions": [' + b",".join(source.payload(i) for i in pending) + b"]}"
        answer = client.post(body, "/predict/batch")
        results = json.loads(answer.body)["results"] if answer.status == 200 else None
        seconds = time.perf_counter() - started
        statuses = (
            [int(r["status"]) for r in results] if results else [answer.status] * len(pending)
        )
        for index, status in zip(pending, statuses, strict=True):
            outcomes[index] = Outcome(status, attempt + answer.attempts - 1, seconds)
        pending = [i for i, status in zip(pending, statuses, strict=True) if status == 503]
        if not pending:
            break
    return [outcomes[i] for i in indices]


def _api_client(config: SimulatorConfig) -> ApiClient:
    return ApiClient(
        config.url, api_key=config.api_key, timeout=config.timeout, max_attempts=config.max_attempts
    )


def run(
    source: Source,
    config: SimulatorConfig,
    *,
    stop: threading.Event | None = None,
    client_factory: Callable[[], ApiClient] | None = None,
    pacer: Pacer | None = None,
    out: TextIO = sys.stderr,
) -> Summary:
    """Replay until the row limit, the duration, the dataset's end or `stop` is set."""
    stop = stop or threading.Event()
    pacer = pacer or Pacer(config.rate)
    make_client = client_factory or (lambda: _api_client(config))
    end = (
        source.n_rows
        if config.requests is None
        else min(source.n_rows, config.start + config.requests)
    )
    deadline = None if config.duration is None else time.monotonic() + config.duration
    summary = Summary(next_offset=config.start)
    position = Position(config.start)
    cursor = _Cursor(config.start, end, deadline, stop)
    lock = threading.Lock()

    def batch_sender() -> None:
        client = make_client()
        try:
            while indices := cursor.claim_many(config.batch):
                pacer.wait()
                outcomes = send_batch(client, source, indices, config.max_attempts)
                with lock:
                    for outcome in outcomes:
                        summary.add(outcome)
                for index in indices:
                    position.finished(index)
        finally:
            client.close()

    def sender() -> None:
        client = make_client()
        try:
            while (index := cursor.claim()) is not None:
                pacer.wait()
                due = source.due(index)
                if due is not None and stop.wait(max(0.0, due - time.time())):
                    break  # stopped while waiting for its time: not sent
                outcome = client.post(source.payload(index))
                with lock:
                    summary.add(outcome)
                position.finished(index)
        finally:
            client.close()

    started = time.monotonic()
    threads = [
        threading.Thread(
            target=sender if config.batch == 1 else batch_sender, name=f"sender-{i}", daemon=True
        )
        for i in range(config.concurrency)
    ]
    for thread in threads:
        thread.start()
    try:
        _watch(
            threads,
            lambda now: _progress(config, summary, end, started, now, out),
            lambda: _save(config, source, position),
        )
    except KeyboardInterrupt:
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        summary.seconds = time.monotonic() - started
        summary.next_offset = position.offset
        _save(config, source, position)
        if config.progress:
            out.write("\n")
    return summary


def _watch(
    threads: list[threading.Thread], progress: Callable[[float], None], save: Callable[[], None]
) -> None:
    """Until every sender has finished: the progress line twice a second, the resume
    state every second."""
    last_save = 0.0
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=0.5)
        now = time.monotonic()
        progress(now)
        if now - last_save >= 1.0:
            save()
            last_save = now


def _progress(
    config: SimulatorConfig, summary: Summary, end: int, started: float, now: float, out: TextIO
) -> None:
    if config.progress:
        out.write(
            f"\r{summary.sent}/{end - config.start} sent, {summary.accepted} accepted, "
            f"{summary.sent / max(now - started, 1e-9):.1f} req/s   "
        )
        out.flush()


def _save(config: SimulatorConfig, source: Source, position: Position) -> None:
    if config.state_file is not None:
        write_state(config.state_file, source.identity, position.offset)
