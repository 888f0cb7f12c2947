"""One keep-alive HTTP connection to the API, with retries for what is worth retrying:
connection errors, 429 and 503, with exponential backoff and full jitter (or the server's
Retry-After). The same request body is sent again, so its transaction_id makes the retry
idempotent."""

from __future__ import annotations

import http.client
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from fraudit.backoff import Backoff

RETRYABLE_STATUS = (429, 503)


@dataclass(frozen=True)
class Outcome:
    status: int  # final HTTP status, or 0 when the connection never answered
    attempts: int
    seconds: float  # from the first attempt to the final answer
    body: bytes = b""


class ApiClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        max_attempts: int = 5,
        base_delay: float = 0.2,
        max_delay: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._parsed = parsed
        self._host: str = parsed.hostname
        self._base = parsed.path.rstrip("/") or ""
        self._headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        if api_key:
            self._headers["x-api-key"] = api_key
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._max_delay = max_delay
        self._delays = Backoff(base_delay, max_delay, rng or random.Random())  # noqa: S311
        self._sleep = sleep
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = (
                http.client.HTTPSConnection
                if self._parsed.scheme == "https"
                else http.client.HTTPConnection
            )
            self._conn = cls(self._host, self._parsed.port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), self._max_delay)
        return self._delays.delay(attempt)

    def post(self, body: bytes, route: str = "/predict") -> Outcome:
        started = time.perf_counter()
        status, payload, attempt = 0, b"", 0
        for attempt in range(1, self._max_attempts + 1):
            retry_after = None
            try:
                conn = self._connection()
                conn.request("POST", self._base + route, body=body, headers=self._headers)
                response = conn.getresponse()
                payload = response.read()
                status = response.status
                retry_after = response.getheader("Retry-After")
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
            except (OSError, http.client.HTTPException):
                self.close()  # a fresh connection for the next attempt
                status, payload = 0, b""
            if status and status not in RETRYABLE_STATUS:
                break
            if attempt < self._max_attempts:
                self._sleep(self._backoff(attempt - 1, retry_after))
        return Outcome(status, attempt, time.perf_counter() - started, payload)


def wait_until_healthy(base_url: str, timeout: float, poll: float = 0.5) -> bool:
    """GET /health until it answers 200 or `timeout` seconds pass (a simulator started
    beside the API waits for it instead of counting refusals)."""
    parsed = urlparse(base_url)
    cls = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
    path = (parsed.path.rstrip("/") or "") + "/health"
    deadline = time.monotonic() + timeout
    while True:
        conn = cls(parsed.hostname or "", parsed.port, timeout=poll * 4)
        try:
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return True
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
