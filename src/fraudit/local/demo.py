"""`fraudit demo`: the whole pipeline on one machine.

`plan()` is pure: which processes, with which arguments, environment, log file and
readiness check. `Demo` carries it out: embedded PostgreSQL (unless DATABASE_URL is set),
kinesalite, models (trained first if missing), then each process in order, each waited for;
it watches them, and on Ctrl-C (or when one dies) stops every child, newest first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fraudit.backoff import fixed, retry
from fraudit.families import ModelFamily, families, family
from fraudit.settings import DEFAULT_STREAM_NAME

STREAM = DEFAULT_STREAM_NAME


@dataclass(frozen=True)
class DemoConfig:
    home: Path = Path(".fraudit/demo")
    host: str = "127.0.0.1"
    model_port: int = 8080
    api_port: int = 8000
    kinesis_port: int = 4567
    dashboard_port: int = 8501
    database_url: str | None = None  # None: an embedded PostgreSQL under home
    # The Redis at this URL when it answers (its keys under DEMO_REDIS_PREFIX, cleared at
    # start), else a redis-server of the demo's own on a free port.
    redis_url: str = "redis://127.0.0.1:6379/0"
    model_dir: Path = Path("models")
    simulator: bool = True
    dashboard: bool = True
    # The simulator's requests/s; None: its family's default (fraudit.models.<family>.traffic:
    # for live cards a cap, each transaction still waiting for its own time).
    rate: float | None = None
    # Whose traffic the simulator sends (a model family's name): live card transactions of a
    # simulated population (scored with their history) or the ULB dataset's vectors. Its
    # model and every required family's are trained on first start.
    dataset: str = "cards"
    seed: int = 8  # the live population's

    trigger: str = "2 seconds"


@dataclass(frozen=True)
class Service:
    name: str
    args: list[str]  # after `python -m fraudit.cli`
    env: dict[str, str] = field(default_factory=dict)
    ready_url: str | None = None  # GET answering 200 = ready
    ready_log: str | None = None  # or a line its log must contain
    url: str | None = None  # what to tell the user
    early: bool = False  # needs only Redis: starts before the models are trained


DEMO_REDIS_PREFIX = "fraudit-demo:"

# The demo's ruleset: one card-testing rule in shadow (docs/RULES.md), so the dashboard's
# Rules tab shows what it would have done, and nothing it enforces.
DEMO_RULE_ID = "card_testing"
DEMO_RULE = "card_count_1h >= 2 && card_amount_max_1h < 10.0 && amount < 10.0"


def demo_ruleset(config: DemoConfig) -> Path:
    return config.home / "rules" / "ruleset.json"


def plan(
    config: DemoConfig, database_url: str, kinesis_url: str, redis_url: str | None = None
) -> list[Service]:
    """The processes, in start order."""
    h = config.host
    aws = {
        "AWS_ENDPOINT_URL_KINESIS": kinesis_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FRAUDIT_STREAM_NAME": STREAM,
    }
    model_url = f"http://{h}:{config.model_port}"
    api_url = f"http://{h}:{config.api_port}"
    dashboard_url = f"http://{h}:{config.dashboard_port}"
    services = [
        Service(
            "model-server",
            [
                "serve-models",
                "--host",
                h,
                "--port",
                str(config.model_port),
                "--model-dir",
                str(config.model_dir),
            ],
            {"FRAUDIT_MODEL_DIR": str(config.model_dir)},
            f"{model_url}/ping",
            url=model_url,
        ),
        Service(
            "api",
            ["api", "--host", h, "--port", str(config.api_port)],
            {
                **aws,
                "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": model_url,
                "FRAUDIT_MODEL_DIR": str(config.model_dir),
                "FRAUDIT_REDIS_URL": redis_url or config.redis_url,
                "FRAUDIT_REDIS_KEY_PREFIX": DEMO_REDIS_PREFIX,
                "FRAUDIT_RULESET_URI": str(demo_ruleset(config)),
            },
            f"{api_url}/health",
            url=api_url,
        ),
        Service(
            "stream",
            [
                "stream",
                "--stream-name",
                STREAM,
                "--endpoint-url",
                kinesis_url,
                "--trigger-interval",
                config.trigger,
                "--checkpoint-dir",
                str(config.home / "checkpoints" / "elt"),
            ],
            {**aws, "DATABASE_URL": database_url},
            ready_log="streaming ",
        ),
    ]
    if config.dashboard:
        services.append(
            Service(
                "dashboard",
                ["dashboard", "--host", h, "--port", str(config.dashboard_port)],
                {"DATABASE_URL": database_url},
                f"{dashboard_url}/_stcore/health",
                url=dashboard_url,
            )
        )
    if config.simulator:
        common = ["simulate", "--url", api_url, "--concurrency", "2", "--no-progress"]
        redis = {
            "FRAUDIT_REDIS_URL": redis_url or config.redis_url,
            "FRAUDIT_REDIS_KEY_PREFIX": DEMO_REDIS_PREFIX,
        }
        traffic = family(config.dataset).traffic()
        simulator = traffic.demo_simulator(
            common, home=config.home, seed=config.seed, rate=config.rate, redis=redis
        )
        service = Service("simulator", simulator.args, simulator.env, early=simulator.early)
        if service.early:
            services.insert(0, service)
        else:
            services.append(service)
    return services


def served_families(config: DemoConfig) -> list[ModelFamily]:
    """The families whose models the demo needs: those the API cannot start without, and
    the one whose traffic the simulator sends."""
    wanted = family(config.dataset)
    return [f for f in families() if f.required or f is wanted]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS's pick)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports nothing listens on now. Each socket stays bound until all are
    chosen: port by port, the OS may hand back a port it just gave (two services then
    collide)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def taken_ports(config: DemoConfig, with_kinesis: bool = True) -> list[tuple[str, int]]:
    wanted = [("model server", config.model_port), ("API", config.api_port)]
    if config.dashboard:
        wanted.append(("dashboard", config.dashboard_port))
    if with_kinesis:
        wanted.append(("Kinesis emulator", config.kinesis_port))
    taken = []
    for name, port in wanted:
        with socket.socket() as s:
            # As servers bind: a port in TIME_WAIT is free, one with a listener is not.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((config.host, port))
            except OSError:
                taken.append((name, port))
    return taken


class DemoError(RuntimeError):
    pass


class _NotReady(Exception):
    """A service is still starting: wait and look again."""


def _child_setup() -> None:
    """In each child before exec: Ctrl-C's SIGINT works even if the demo was started with
    it ignored (nohup, `&`), and the child gets SIGTERM if the demo dies without stopping
    it (Linux prctl PR_SET_PDEATHSIG), so nothing outlives the demo."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def handle_stop_signals() -> None:
    """SIGTERM (docker stop, kill) stops the demo as Ctrl-C does; SIGINT is honoured even
    when the shell started the demo with it ignored."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


class Demo:
    def __init__(self, config: DemoConfig, say: Callable[[str], None]) -> None:
        self.config = config
        self.say = say
        self.logs = config.home / "logs"
        self.children: list[tuple[Service, subprocess.Popen[bytes]]] = []
        self._postgres: Any = None
        self._kinesis: Any = None
        self._redis: Any = None
        self.redis_url = config.redis_url
        self._java: dict[str, str] = {}
        self.database_url = ""

    # --- the pieces ---------------------------------------------------------------------
    def _start_postgres(self) -> str:
        if self.config.database_url:
            return self.config.database_url
        import pgserver

        data = (self.config.home / "postgres").resolve()
        data.parent.mkdir(parents=True, exist_ok=True)
        self._postgres = pgserver.get_server(data, cleanup_mode="stop")
        return self._postgres.get_uri()

    def _start_kinesis(self) -> str:
        from fraudit.local.kinesis_emulator import KinesisEmulator

        self._kinesis = KinesisEmulator(
            Path(".fraudit/node"),
            host=self.config.host,
            port=self.config.kinesis_port,
            storage=self.config.home / "kinesis",
            log_path=self.logs / "kinesis.log",
        )
        url = self._kinesis.start()
        self._kinesis.create_stream(STREAM, shards=2)
        return url

    def _start_redis(self) -> str:
        """The configured Redis if it answers (the demo's keys cleared), else our own."""
        from fraudit.local.redis_server import PrivateRedis
        from fraudit.online.redis_store import clear_prefix, connect

        client = connect(self.config.redis_url, 1.0)
        try:
            client.ping()
        except Exception:
            self._redis = PrivateRedis(free_port(self.config.host), self.logs / "redis.log")
            self._redis.start()
            return str(self._redis.url)
        clear_prefix(client, DEMO_REDIS_PREFIX)
        return self.config.redis_url

    def _spawn(self, service: Service, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{service.name}.log", "ab")  # noqa: SIM115 - closed by exit
        return subprocess.Popen(
            [sys.executable, "-m", "fraudit.cli", *service.args],
            env={**os.environ, **extra_env, **service.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_child_setup,
        )

    def _wait_ready(
        self,
        service: Service,
        process: subprocess.Popen[bytes],
        timeout: float,
        log_offset: int = 0,
    ) -> None:
        """`log_offset`: where this run of the service starts in its (appended) log."""
        log = self.logs / f"{service.name}.log"

        def ready() -> None:
            if process.poll() is not None:
                raise DemoError(
                    f"{service.name} exited ({process.returncode}); its log "
                    f"{log}:\n{self._tail(log)}"
                )
            if service.ready_url:
                with (
                    contextlib.suppress(OSError),
                    urllib.request.urlopen(  # noqa: S310
                        service.ready_url, timeout=2
                    ) as response,
                ):
                    if response.status == 200:
                        return
            elif service.ready_log:
                with open(log, "rb") as f:
                    f.seek(log_offset)
                    if service.ready_log in f.read().decode(errors="replace"):
                        return
            else:
                return
            raise _NotReady

        try:
            retry(ready, retry_on=_NotReady, backoff=fixed(0.5), max_wait=timeout)
        except _NotReady:
            raise DemoError(f"{service.name} not ready after {timeout:.0f} s; see {log}") from None

    @staticmethod
    def _tail(path: Path, lines: int = 15) -> str:
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- lifecycle ----------------------------------------------------------------------
    def start(self, train: Callable[[ModelFamily], int]) -> None:
        """Everything up; `train` makes a model of a family that has none (0 on success)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        taken = taken_ports(self.config)
        if taken:
            names = ", ".join(f"{name} port {port}" for name, port in taken)
            raise DemoError(
                f"already in use: {names}. Stop what uses them or choose others "
                "(fraudit demo --help lists the port options)."
            )
        from fraudit.local.java import java_env

        self._java, which = java_env(self.config.home)
        self.say(f"{which}")
        self.database_url = self._start_postgres()
        self._prepare_database()
        self._publish_rules()
        from fraudit.db.connection import describe

        if self._postgres is not None:  # local socket, no password: safe to show
            self.say(f"PostgreSQL ready (embedded): DATABASE_URL={self.database_url}")
        else:
            self.say(f"PostgreSQL ready ({describe(self.database_url)})")
        kinesis_url = self._start_kinesis()
        self.say(f"Kinesis emulator ready at {kinesis_url} (stream {STREAM}, 2 shards)")
        self.redis_url = self._start_redis()
        own = " (started for the demo)" if self._redis is not None else ""
        where = urlparse(self.redis_url)  # host and port only: a URL may hold a password
        self.say(f"Redis ready at {where.hostname}:{where.port}{own}, keys {DEMO_REDIS_PREFIX}*")
        services = plan(self.config, self.database_url, kinesis_url, self.redis_url)
        # What needs only Redis (the live simulator seeding the store) starts before the
        # models are trained, and works while they are.
        for service in (s for s in services if s.early):
            self._spawn_ready(service)
        for needed in served_families(self.config):
            self._prepare_model(needed, train)
        for service in (s for s in services if not s.early):
            self._spawn_ready(service)
        for service, _ in self.children:
            if service.name == "dashboard":
                self.say(f"dashboard at {service.url}")

    def _spawn_ready(self, service: Service) -> None:
        # A restart appends to the last run's log: only this run's lines say it is ready.
        log = self.logs / f"{service.name}.log"
        offset = log.stat().st_size if log.exists() else 0
        process = self._spawn(service, self._java)
        self.children.append((service, process))
        self._wait_ready(service, process, self._timeout(service), offset)
        self.say(
            f"{service.name} ready"
            + (f" at {service.url}" if service.url else "")
            + f" (log: {self.logs / (service.name + '.log')})"
        )

    def _prepare_model(self, needed: ModelFamily, train: Callable[[ModelFamily], int]) -> None:
        from fraudit.models.layout import family_root, has_model

        if has_model(family_root(self.config.model_dir, needed)):
            return
        self.say(f"no trained model yet for the {needed.noun} family: training one")
        started = time.monotonic()
        if train(needed) != 0:
            raise DemoError(f"training the {needed.noun} model failed (see above)")
        self.say(f"{needed.noun} model trained in {time.monotonic() - started:.0f} s")

    @staticmethod
    def _timeout(service: Service) -> float:
        return 240.0 if service.name == "stream" else 120.0

    def pid(self, name: str) -> int | None:
        """The process id of a running child (its process group leader)."""
        for service, process in self.children:
            if service.name == name and process.poll() is None:
                return process.pid
        return None

    @property
    def kinesis_pid(self) -> int | None:
        process = getattr(self._kinesis, "process", None)
        return process.pid if process is not None and process.poll() is None else None

    def kill_and_restart(self, name: str, working_log: str | None = None) -> None:
        """SIGKILL a child with everything it started (a crash, no clean shutdown), then
        start it again and wait until it is ready and, with `working_log`, until its log
        shows that line again (the stream: a batch loaded)."""
        index, (service, process) = next(
            (i, child) for i, child in enumerate(self.children) if child[0].name == name
        )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log = self.logs / f"{service.name}.log"
        offset = log.stat().st_size if log.exists() else 0
        process = self._spawn(service, self._java)
        self.children[index] = (service, process)
        self._wait_ready(service, process, self._timeout(service), log_offset=offset)
        if working_log:
            self._wait_ready(
                replace(service, ready_url=None, ready_log=working_log),
                process,
                self._timeout(service),
                log_offset=offset,
            )

    def _prepare_database(self) -> None:
        import psycopg

        from fraudit.db.connection import connect
        from fraudit.db.schema import apply_schema

        def prepare() -> None:
            with connect(self.database_url, connect_timeout=3) as conn:
                apply_schema(conn)

        try:  # OperationalError while the server starts
            retry(prepare, retry_on=psycopg.OperationalError, backoff=fixed(1.0), max_wait=60)
        except psycopg.OperationalError as exc:
            raise DemoError(f"PostgreSQL unreachable: {type(exc).__name__}") from exc

    def _publish_rules(self) -> None:
        """The demo's shadow rule in its database and published where its API reads."""
        from fraudit.db.connection import connect
        from fraudit.decisions import RuleAction
        from fraudit.rules.document import RuleState
        from fraudit.rules.source import writer_of
        from fraudit.rules.store import RuleStore

        with connect(self.database_url, autocommit=True) as conn:
            store = RuleStore(conn)
            if not store.versions(DEMO_RULE_ID):
                store.create(
                    rule_id=DEMO_RULE_ID,
                    family_name="cards",
                    action=RuleAction.DECLINE,
                    expression=DEMO_RULE,
                    reason="card testing: a third small payment within the hour",
                    author="demo",
                    why="the demo's shadow rule",
                )
                store.promote(DEMO_RULE_ID, RuleState.SHADOW, actor="demo", why="demo")
            target = demo_ruleset(self.config)
            document = store.publish(
                writer_of(str(target), lambda: None), str(target), actor="demo"
            )
        self.say(f"ruleset {document.version} published to {target}: a card-testing rule in shadow")

    def watch(self) -> int:
        """Until Ctrl-C (0) or a child dies (1)."""
        try:
            while True:
                for service, process in self.children:
                    if process.poll() is not None:
                        if service.name == "simulator" and process.returncode == 0:
                            self.say("the simulator reached the end of its dataset")
                            self.children.remove((service, process))
                            break
                        self.say(
                            f"{service.name} stopped ({process.returncode}); last lines "
                            f"of its log:\n{self._tail(self.logs / (service.name + '.log'))}"
                        )
                        return 1
                time.sleep(1)
        except KeyboardInterrupt:
            self.say("stopping")
            return 0

    def stop(self) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGINT)  # Spark, Streamlit: clean exits
        for service, process in reversed(self.children):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                self.say(f"{service.name} did not stop in 20 s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.children.clear()
        if self._kinesis is not None:
            self._kinesis.stop()
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        if self._postgres is not None:
            self._postgres.cleanup()
            self._postgres = None
