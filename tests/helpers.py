"""Test helpers for running fraudit's real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    return subprocess.Popen([sys.executable, "-m", "fraudit.cli", *args],
                            env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT)


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
    return boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local",
                        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                      connect_timeout=2, read_timeout=10))
