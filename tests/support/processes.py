"""Test helpers for running fraudit's real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

from fraudit.local.demo import free_port, free_ports  # noqa: F401 - the tests' port pickers


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def fraudit_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`python -m fraudit.cli ...` with its output in `log`."""
    handle = open(log, "wb")  # noqa: SIM115 - closed when the process is stopped
    return subprocess.Popen(
        [sys.executable, "-m", "fraudit.cli", *args],
        env={**os.environ, **env},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen, timeout: float = 20.0) -> int:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def runtime_client(url: str):
    """A real boto3 sagemaker-runtime client pointed at a local server, no retries."""
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=10
        ),
    )


class FaultModelServer:
    """A SageMaker-runtime-shaped HTTP server for fault injection: per endpoint it answers
    well-formed scores, an error status, garbage, or nothing, optionally after a delay, and
    records when each call started and ended."""

    def __init__(self, behaviours: dict[str, dict]) -> None:
        import json as _json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.behaviours = behaviours
        self.calls: list[tuple[str, float, float]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                return None

            def do_POST(self):
                started = time.monotonic()
                name = self.path.split("/")[2]
                rows = self.rfile.read(int(self.headers["Content-Length"])).count(b"\n") + 1
                how = outer.behaviours.get(name, {})
                rows = how.get("answer_rows", rows)
                time.sleep(how.get("delay", 0.0))
                if how.get("hang"):
                    time.sleep(how["hang"])
                status = how.get("status", 200)
                if status != 200:
                    body = _json.dumps({"message": how.get("message", "injected fault")}).encode()
                    headers = {"x-amzn-ErrorType": how.get("code", "ModelError")}
                elif how.get("garbage"):
                    body, headers = b"not a score", {}
                elif "anomaly" in name:
                    body = _json.dumps({"scores": [{"score": 0.5}] * rows}).encode()
                    headers = {}
                else:
                    body, headers = "\n".join(["0.01"] * rows).encode(), {}
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except BrokenPipeError:  # the client gave up (timeout tests)
                    return
                outer.calls.append((name, started, time.monotonic()))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultModelServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
