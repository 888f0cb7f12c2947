"""The soak run: the whole local pipeline (model server, API, Kinesis emulator, Spark job,
a private PostgreSQL cluster on its own port) under the simulator's steady load, with the
Spark job killed and PostgreSQL restarted once; then every accepted answer is matched with
its row. The facts go to `fraudit.soak.report` to be judged and written up."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable

from fraudit.db.sql import CARD_EVENT_ENTITIES
from fraudit.families import ModelFamily, family
from fraudit.features.definitions import Entity
from fraudit.local.demo import DEMO_REDIS_PREFIX, Demo, DemoConfig, free_port, free_ports
from fraudit.local.pg_cluster import PrivateCluster
from fraudit.local.redis_server import PrivateRedis
from fraudit.online.plan import PENDING_SLACK
from fraudit.online.rebuild import rebuild, rows_to_rebuild
from fraudit.online.redis_store import OnlineStore, connect
from fraudit.simulator.client import ApiClient, Outcome
from fraudit.simulator.run import SimulatorConfig, Summary, run
from fraudit.simulator.source import Source
from fraudit.soak.plan import (
    Fault,
    SoakConfig,
    StoreCheck,
    check_store,
    fault_schedule,
    latest,
)
from fraudit.soak.report import (
    Answer,
    FaultRecord,
    MemorySample,
    SoakReport,
    StoredRow,
    judge,
    to_markdown,
    windows,
)
from fraudit.soak.slow_link import SlowLink


class AnswerLog:
    """Every final answer, stamped relative to the load's start; shared by sender threads."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.answers: list[Answer] = []
        self._lock = threading.Lock()

    def add(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)


class RecordingClient(ApiClient):
    """The simulator's client, noting each request's final answer and its transaction_id."""

    def __init__(self, log: AnswerLog, base_url: str, **kwargs: object) -> None:
        super().__init__(base_url, **kwargs)  # type: ignore[arg-type]
        self._log = log

    def post(self, body: bytes, route: str = "/predict") -> Outcome:
        if route != "/predict":
            raise ValueError("the soak records single transactions only")
        outcome = super().post(body, route)
        event_id = json.loads(body)["metadata"]["transaction_id"]
        error = (
            ""
            if outcome.status == 200
            else (outcome.body.decode(errors="replace")[:300] or "no answer")
        )
        self._log.add(
            Answer(
                time.monotonic() - self._log.started,
                outcome.status,
                outcome.seconds,
                outcome.attempts,
                event_id,
                error,
            )
        )
        return outcome


def process_tree_memory(pid: int) -> tuple[int, int] | None:
    """(RSS, private RSS) of a process and all its descendants (the Spark job's JVM and
    Python workers, PostgreSQL's backends); None once it is gone. Private RSS leaves out
    file-backed and shared pages (libraries, PostgreSQL's shared buffer cache)."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    rss = private = 0
    for process in processes:
        try:
            info = process.memory_info()
        except psutil.Error:
            continue
        rss += info.rss
        private += info.rss - getattr(info, "shared", 0)
    return rss, private


def postmaster_pid(cluster: PrivateCluster) -> int | None:
    try:
        return int((cluster.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# Each card event's entity keys, as the API counted it.
class Soak:
    def __init__(self, config: SoakConfig, source: Source, say: Callable[[str], None]) -> None:
        self.config = config
        self.say = say
        laps = max(1, math.ceil(config.requests / source.n_rows))
        self.source = source.lapped(laps)
        self.redis: PrivateRedis | None = None
        self.store_check: StoreCheck | None = None
        self.out = config.out_dir
        self.samples: list[MemorySample] = []
        self.faults: list[FaultRecord] = []
        self.cluster: PrivateCluster | None = None
        self.demo: Demo | None = None
        self.link: SlowLink | None = None

    # --- one run ------------------------------------------------------------------------
    def run(self, train: Callable[[ModelFamily], int]) -> SoakReport:
        """The run; `train` makes a model of a family that has none (the demo's)."""
        self.out.mkdir(parents=True, exist_ok=True)
        self.cluster = PrivateCluster(free_port()).init()
        self.cluster.start()
        self.say(
            f"private PostgreSQL cluster on port {self.cluster.port} (logs under "
            f"{self.cluster.root})"
        )
        # A Redis of the run's own (in memory only): the run restarts it. The API reaches it
        # through a proxy whose replies the slow-Redis fault holds back.
        self.redis = PrivateRedis(free_port(), self.out / "redis.log")
        self.redis.start()
        self.link = SlowLink(self.redis.port).start()
        model_port, api_port = free_ports(2)
        self.demo = Demo(
            DemoConfig(
                home=self.out / "run",
                model_port=model_port,
                api_port=api_port,
                kinesis_port=0,
                database_url=self.cluster.url,
                model_dir=self.config.model_dir,
                simulator=False,
                dashboard=False,
                trigger=self.config.trigger,
                dataset=self.config.dataset,
                redis_url=self.link.url,
            ),
            self.say,
        )
        try:
            self.demo.start(train)
            answers, load_seconds, summary = self._load(self.demo)
            self.say(f"load done: {summary.format()}")
            stored, rejected = self._drain(sum(a.status == 200 for a in answers))
            if family(self.config.dataset).counts_history:
                self.store_check = self._check_store()
        finally:
            self.demo.stop()
            self.cluster.destroy()
            self.link.stop()
            self.redis.stop()
        return self._report(answers, load_seconds, stored, rejected)

    # --- the online store ---------------------------------------------------------------
    def _store(self) -> OnlineStore:
        assert self.redis is not None
        return OnlineStore(connect(self.redis.url, 30.0), prefix=DEMO_REDIS_PREFIX)

    def _rebuild(self) -> str:
        from fraudit.db.connection import connect as connect_db

        assert self.cluster is not None
        store = self._store()
        with connect_db(self.cluster.url) as conn:
            result = rebuild(store, rows_to_rebuild(conn, store.state_ttl_seconds))
        return f"{result.transactions:,} rows read, {result.counted:,} counted again"

    def _check_store(self) -> StoreCheck:
        """Rebuild once more (rows that were in flight at the restart's rebuild), then hold
        every entity key's transactions against the rows that name it."""
        from fraudit.db.connection import connect as connect_db

        assert self.cluster is not None
        self.say(f"online store: final rebuild ({self._rebuild()})")
        store = self._store()
        held = {
            store.keys.entity(entity, key): store.entity_transactions(entity, key)
            for entity, key in store.entities()
        }
        named: dict[str, list[tuple[float, str]]] = {}
        keep: dict[str, int] = {}
        kept = {plan.entity: plan.cap + PENDING_SLACK for plan in store.plans}
        with connect_db(self.cluster.url) as conn:
            for event_id, at, card, merchant, device, ip in conn.execute(CARD_EVENT_ENTITIES):
                for entity, value in (
                    (Entity.CARD, card),
                    (Entity.MERCHANT, merchant),
                    (Entity.DEVICE, device),
                    (Entity.IP, ip),
                ):
                    if value is not None:
                        key = store.keys.entity(entity, value)
                        named.setdefault(key, []).append((at, event_id))
                        keep[key] = kept[entity]
        # A set keeps its entity's latest cap + slack (rule 8), the rows name them all.
        expected = {key: latest(pairs, keep[key]) for key, pairs in named.items()}
        check = check_store(held, expected)
        self.say(
            f"online store: {check.keys:,} keys, {check.mismatched} differ from the rows, "
            f"{check.counted_twice} transactions counted twice"
        )
        return check

    def _load(self, demo: Demo) -> tuple[list[Answer], float, Summary]:
        config = self.config
        api_url = f"http://{demo.config.host}:{demo.config.api_port}"
        self._wall_start = time.time()
        log = AnswerLog()
        sim = SimulatorConfig(
            url=api_url,
            rate=config.rate,
            concurrency=config.concurrency,
            requests=config.requests,
            duration=config.seconds,
            progress=False,
            max_attempts=8,
        )
        result: list[Summary] = []
        sender = threading.Thread(
            target=lambda: result.append(
                run(
                    self.source,
                    sim,
                    client_factory=lambda: RecordingClient(
                        log, api_url, timeout=sim.timeout, max_attempts=sim.max_attempts
                    ),
                )
            ),
            name="soak-load",
            daemon=True,
        )
        self.say(
            f"load: {config.rate:g} req/s for {config.minutes:g} min; faults: "
            + ", ".join(f"{f.kind} at {f.at:.0f} s" for f in fault_schedule(config))
        )
        sender.start()
        done = threading.Event()
        # Memory is sampled on its own thread so that it goes on while a fault is injected.
        sampler = threading.Thread(
            target=self._sample_until, args=(done, log.started), name="soak-sampler", daemon=True
        )
        sampler.start()
        pending = fault_schedule(config)
        next_progress = 0.0
        while sender.is_alive():
            now = time.monotonic() - log.started
            if pending and now >= pending[0].at:
                self._inject(pending.pop(0), now)
            if now >= next_progress:
                answers = log.snapshot()
                self.say(
                    f"  {now / 60:5.1f} min: {len(answers):,} answered, "
                    f"{sum(a.status == 200 for a in answers):,} accepted, "
                    f"{self._count_rows()} rows in PostgreSQL"
                )
                next_progress = now + 30
            sender.join(timeout=0.5)
        done.set()
        sampler.join()
        return log.snapshot(), time.monotonic() - log.started, result[0]

    def _sample_until(self, done: threading.Event, started: float) -> None:
        while not done.is_set():
            self._sample(time.monotonic() - started)
            done.wait(self.config.sample_every)

    def _sample(self, at: float) -> None:
        import psutil

        assert self.demo is not None
        assert self.cluster is not None
        trees = {
            "model-server": self.demo.pid("model-server"),
            "api": self.demo.pid("api"),
            "stream (Spark)": self.demo.pid("stream"),
            "kinesis": self.demo.kinesis_pid,
            "postgres": postmaster_pid(self.cluster),
        }
        for name, pid in trees.items():
            memory = process_tree_memory(pid) if pid else None
            if memory is not None:
                self.samples.append(MemorySample(at, name, *memory))
        # The harness alone: its children are the processes above.
        info = psutil.Process().memory_info()
        self.samples.append(
            MemorySample(at, "harness (simulator)", info.rss, info.rss - getattr(info, "shared", 0))
        )

    def _inject(self, fault: Fault, at: float) -> None:
        assert self.demo is not None
        assert self.cluster is not None
        started = time.monotonic()
        if fault.kind == "kill-stream":
            self.say(f"  fault at {at:.0f} s: SIGKILL to the Spark job; restarting it")
            self.demo.kill_and_restart("stream", working_log=" inserted, ")
            detail = (
                "SIGKILL to the job's process group; restarted from its checkpoint; "
                "recovered = a batch loaded again"
            )
        elif fault.kind == "slow-redis":
            assert self.link is not None
            config = self.config
            self.say(
                f"  fault at {at:.0f} s: Redis answers {config.slow_redis_reply_delay:g} s late "
                f"for {config.slow_redis_seconds:g} s"
            )
            self.link.delay_all = config.slow_redis_reply_delay
            time.sleep(config.slow_redis_seconds)
            self.link.delay_all = 0.0
            detail = (
                f"every Redis reply held {config.slow_redis_reply_delay:g} s (past the API's "
                f"timeout) for {config.slow_redis_seconds:g} s: the steps ran, the API "
                "fenced and undid them"
            )
        elif fault.kind == "restart-redis":
            assert self.redis is not None
            self.say(f"  fault at {at:.0f} s: Redis restarted (its data lost); rebuilding it")
            self.redis.restart()
            detail = (
                f"redis-server restarted empty, then fraudit features rebuild: {self._rebuild()}"
            )
        else:
            self.say(f"  fault at {at:.0f} s: PostgreSQL stopped (immediate) and restarted")
            self.cluster.restart("immediate")
            detail = "pg_ctl stop -m immediate (crash recovery on start), then start"
        seconds = time.monotonic() - started
        self.faults.append(FaultRecord(at, fault.kind, seconds, detail))
        self.say(f"  recovered in {seconds:.1f} s")

    # --- the database -------------------------------------------------------------------
    def _count_rows(self) -> str:
        from fraudit.db.connection import connect

        assert self.cluster is not None
        try:
            with connect(self.cluster.url, connect_timeout=2) as conn:
                row = conn.execute("SELECT count(*) FROM fraud_predictions").fetchone()
            return f"{row[0]:,}" if row else "?"
        except Exception as exc:  # psycopg.OperationalError while PostgreSQL restarts
            return f"? ({type(exc).__name__})"

    def _drain(self, accepted: int) -> tuple[list[StoredRow], list[tuple[str | None, str]]]:
        """Wait until the stream has stored at least every accepted event and stopped
        adding rows (or the drain timeout), then read what PostgreSQL holds."""
        from fraudit.db.connection import connect

        assert self.cluster is not None
        deadline = time.monotonic() + self.config.drain_timeout
        last, stable = -1, 0
        self.say(f"draining: waiting for {accepted:,} accepted events to reach PostgreSQL")
        with connect(self.cluster.url) as conn:
            conn.autocommit = True
            while time.monotonic() < deadline:
                row = conn.execute("SELECT count(*) FROM fraud_predictions").fetchone()
                count = int(row[0]) if row else 0
                stable = stable + 1 if count == last else 0
                last = count
                if count >= accepted and stable >= 3:
                    break
                time.sleep(1)
            else:
                self.say(f"drain timeout: {last:,} rows for {accepted:,} accepted events")
            stored = [
                StoredRow(event_id, float(landed) - self._wall_start, float(lag))
                for event_id, landed, lag in conn.execute(
                    "SELECT event_id, extract(epoch FROM processed_at), "
                    "extract(epoch FROM processed_at - scored_at) "
                    "FROM fraud_predictions"
                )
            ]
            rejected = [
                (event_id, reason)
                for event_id, reason in conn.execute(
                    "SELECT event_id, reason FROM fraud_predictions_rejected"
                )
            ]
        return stored, rejected

    # --- the report ---------------------------------------------------------------------
    def _report(
        self,
        answers: list[Answer],
        load_seconds: float,
        stored: list[StoredRow],
        rejected: list[tuple[str | None, str]],
    ) -> SoakReport:
        from fraudit.machine import describe_machine
        from fraudit.soak.charts import write_charts

        report = judge(
            self.config,
            load_seconds,
            answers,
            stored,
            rejected,
            self.samples,
            self.faults,
            planned_faults=len(fault_schedule(self.config)),
            store_check=self.store_check,
        )
        report.machine = describe_machine()
        end = max([load_seconds] + [row.landed_at for row in stored])
        charts = write_charts(
            self.out, windows(answers, stored, self.config.window, end), self.samples, self.faults
        )
        (self.out / "report.json").write_text(
            json.dumps(
                {
                    **report.to_dict(),
                    "memory_samples": [
                        [round(s.at, 1), s.process, s.rss_bytes, s.private_bytes]
                        for s in self.samples
                    ],
                },
                indent=1,
                default=float,
            )
        )
        (self.out / "report.md").write_text(to_markdown(report, charts))
        return report
