"""Benchmark: the inference API over HTTP on loopback, with the local model server,
kinesalite and a redis-server behind it, and the in-process scoring core.

- `fraudit api` (N worker processes), `fraudit serve-models` (both families), kinesalite
  and redis-server run as separate processes, as they would on a laptop; clients are
  separate processes with one keep-alive connection each, sending POST /predict, each
  request a new transaction_id (a repeat would be answered from its idempotency record).
- Two paths in the same run: ULB vectors (real rows) and card transactions (a simulated
  history, whose features the online store computes).
- For 1 and 8 concurrent clients: throughput, p50/p99 latency, the CPU the API processes
  spent per request (from /proc) and the Redis round trips per request (INFO stats: the
  servers' read events; on a cluster, once per node a pipeline reaches), over several runs.
- Scoring core in process: validate + features + both models + decision, p50/p99.

    python bench/bench_api.py [--quick] [--workers 2] [--seconds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import DEV_CSV, cell, local_api_env, machine, proc_stat, summarise, write_results  # noqa: E402
from fraudit.local.kinesis_emulator import KinesisEmulator  # noqa: E402
from fraudit.local.redis_server import (  # noqa: E402
    PrivateRedis,
    PrivateRedisCluster,
    free_cluster_ports,
)
from fraudit.models.cards.from_scratch import card_model_from_scratch, simulate_history  # noqa: E402
from fraudit.models.layout import has_model  # noqa: E402
from fraudit.models.ulb.bundle import load_bundle  # noqa: E402
from fraudit.models.ulb.train import run_training  # noqa: E402
from fraudit.online.redis_store import connect  # noqa: E402
from fraudit.settings import DEFAULT_STREAM_NAME, Settings  # noqa: E402
from fraudit.simulator.source import CardReplaySource, load_card_history  # noqa: E402
from tests.support.api import payload  # noqa: E402
from tests.support.processes import fraudit_process, free_ports, stop, wait_for_http  # noqa: E402


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):  # the process has gone
            total += proc_stat(Path(f"/proc/{pid}/stat"))[1]
    return total


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


TXID = b"__TXID__"


def client_loop(
    port: int, bodies: list[bytes], start_at: float, stop_at: float, queue: mp.Queue, tag: str
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    latencies, errors, i = [], 0, 0

    def body(i: int) -> bytes:
        return bodies[i % len(bodies)].replace(TXID, f"{tag}-{i}".encode())

    # Warm-up (connection, caches), ended on an even count: alternating bodies (paired)
    # keep their order in the measured latencies.
    while time.monotonic() < start_at or i % 2:
        conn.request("POST", "/predict", body(i), headers)
        conn.getresponse().read()
        i += 1
    while (now := time.monotonic()) < stop_at:
        conn.request("POST", "/predict", body(i), headers)
        response = conn.getresponse()
        response.read()
        latencies.append((time.monotonic() - now) * 1e3)
        errors += response.status != 200
        i += 1
    queue.put((tag, latencies, errors))


def redis_reads(nodes: list[Any]) -> int:
    """Read events the servers processed so far (INFO stats `total_reads_processed`): one per
    round trip to a node, since a request's pipeline arrives in one read. On a cluster the
    parts of one pipeline sent to different nodes count once per node (they overlap)."""
    return sum(int(node.info("stats")["total_reads_processed"]) for node in nodes)


def server_counters(nodes: list[Any]) -> dict[str, float]:
    """Summed over the nodes: every command called (scripts' inner ones included), the
    server time of the API's own commands (a script's time includes its inner commands),
    the PSETEX calls and time (the cheapest write: the unit of the ECPU estimate in
    docs/SCALING.md) and the bytes in and out."""
    out = {"commands": 0.0, "api_usec": 0.0, "psetex_calls": 0.0, "psetex_usec": 0.0, "bytes": 0.0}
    for node in nodes:
        stats = node.info("commandstats")
        for name, values in stats.items():
            command = name.removeprefix("cmdstat_")
            if command in ("info", "ping", "cluster|slots", "cluster|shards", "script|load"):
                continue
            if command not in ("evalsha", "eval"):
                out["commands"] += float(values.get("calls", 0))
            if command in ("evalsha", "eval", "psetex"):
                out["api_usec"] += float(values.get("usec", 0))
            if command == "psetex":
                out["psetex_calls"] += float(values.get("calls", 0))
                out["psetex_usec"] += float(values.get("usec", 0))
        net = node.info("stats")
        out["bytes"] += float(net["total_net_input_bytes"]) + float(net["total_net_output_bytes"])
    return out


def load(
    port: int,
    clients: int,
    seconds: float,
    bodies: list[bytes],
    api_pids: list[int],
    redis_nodes: list[Any],
    tag: str,
) -> dict[str, float]:
    queue: mp.Queue = mp.Queue()
    start_at = time.monotonic() + 1.5
    stop_at = start_at + seconds
    share = len(bodies) // clients
    procs = [
        mp.Process(
            target=client_loop,
            args=(
                port,
                bodies[c * share : (c + 1) * share],
                start_at,
                stop_at,
                queue,
                f"{tag}-c{c}",
            ),
        )
        for c in range(clients)
    ]
    for p in procs:
        p.start()
    time.sleep(max(0.0, start_at - time.monotonic()))
    cpu_before = cpu_seconds(api_pids)
    reads_before = redis_reads(redis_nodes)
    counters_before = server_counters(redis_nodes)
    results = [queue.get() for _ in procs]
    cpu_after = cpu_seconds(api_pids)
    reads_after = redis_reads(redis_nodes)
    counters = server_counters(redis_nodes)
    delta = {k: counters[k] - counters_before[k] for k in counters}
    for p in procs:
        p.join()
    latencies = [ms for _, lat, _ in results for ms in lat]
    errors = sum(e for _, _, e in results)
    return {
        "requests": len(latencies),
        "errors": errors,
        "throughput_rps": len(latencies) / seconds,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "api_cpu_ms_per_request": (cpu_after - cpu_before) * 1e3 / max(len(latencies), 1),
        # Includes the warm-up's requests' last round trips at most: a few per run.
        # Less the bench's own INFO calls between the two readings (three per node).
        "redis_reads_per_request": (reads_after - reads_before - 3 * len(redis_nodes))
        / max(len(latencies), 1),
        "redis_commands_per_request": delta["commands"] / max(len(latencies), 1),
        "redis_server_us_per_request": delta["api_usec"] / max(len(latencies), 1),
        "redis_psetex_us_per_call": delta["psetex_usec"] / max(delta["psetex_calls"], 1),
        "redis_bytes_per_request": delta["bytes"] / max(len(latencies), 1),
    }


def scoring_core(model_dir: Path, n: int) -> dict[str, float]:
    from fraudit.api.plan import decide, parse_request
    from fraudit.contracts import PredictRequest, ValidationClock
    from fraudit.models.ulb.serving import InProcessScorer

    bundle = load_bundle(model_dir)
    scorer = InProcessScorer(bundle)
    bodies = [json.loads(json.dumps(payload(i, fraud=i % 10 == 0))) for i in range(200)]
    times = []
    now = datetime.now(UTC)
    clock = ValidationClock(now, timedelta(days=7))
    for i in range(n + 200):
        start = time.perf_counter()
        request = parse_request(bodies[i % len(bodies)], clock)
        assert isinstance(request, PredictRequest)
        (scores,) = scorer.score([request.data])
        decide(request, scores, bundle.policy, "e", now)
        if i >= 200:
            times.append((time.perf_counter() - start) * 1e3)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def paired_one_client(
    port: int, bodies: dict[str, list[bytes]], seconds: float, tag: str
) -> dict[str, float]:
    """One client alternating a ULB and a card request: both paths' latencies from the same
    seconds of the same machine. On this shared VM a path's p50 moved by 2.5 ms between two
    8-second runs a few seconds apart (2026-12-07), more than the difference measured."""
    ulb, cards = bodies["ulb"], bodies["cards"]
    n = min(len(ulb), len(cards))
    alternating = [body for pair in zip(ulb[:n], cards[:n], strict=True) for body in pair]
    queue: mp.Queue = mp.Queue()
    start_at = time.monotonic() + 1.5
    proc = mp.Process(
        target=client_loop, args=(port, alternating, start_at, start_at + seconds, queue, tag)
    )
    proc.start()
    _, latencies, errors = queue.get()
    proc.join()
    ulb_ms, card_ms = latencies[0::2], latencies[1::2][: len(latencies[0::2])]
    return {
        "pairs": len(card_ms),
        "errors": errors,
        "ulb_p50_ms": float(np.percentile(ulb_ms, 50)),
        "cards_p50_ms": float(np.percentile(card_ms, 50)),
        "p50_difference_ms": float(np.percentile(card_ms, 50) - np.percentile(ulb_ms, 50)),
        "median_pair_difference_ms": float(
            np.median(np.array(card_ms[: len(ulb_ms)]) - np.array(ulb_ms[: len(card_ms)]))
        ),
    }


def card_minus_ulb(measured: dict[str, Any]) -> dict[str, float]:
    """The card path's cost over the ULB path's: the median over run pairs (each pair run
    back to back) of the pair's difference, or ratio."""

    def paired(clients: int, key: str, ratio: bool = False) -> float:
        ulb = measured[f"ulb_clients_{clients}"]["runs"]
        cards = measured[f"cards_clients_{clients}"]["runs"]
        return statistics.median(
            c[key] / u[key] if ratio else c[key] - u[key] for u, c in zip(ulb, cards, strict=True)
        )

    return {
        # One client alternating the two paths (paired_one_client): the figure of record.
        "p50_ms_1_client": measured["paired_1_client"]["summary"]["p50_difference_ms"]["median"],
        "p50_ms_1_client_run_pairs": paired(1, "p50_ms"),
        "p99_ms_1_client": paired(1, "p99_ms"),
        "throughput_ratio_8_clients": paired(8, "throughput_rps", ratio=True),
    }


HOT_CARD, HOT_DEVICE, HOT_IP = "card_bench_hot", "dev-bench-hot", "203.0.113.250"


def hot_bodies(card_bodies: list[bytes]) -> list[bytes]:
    """The card bodies moved onto the hot card, device and IP."""
    out = []
    for body in card_bodies:
        request = json.loads(body)
        request["transaction"]["card_token"] = HOT_CARD
        request["metadata"]["device_info"] = {"device_id": HOT_DEVICE}
        request["metadata"]["ip_address"] = HOT_IP
        out.append(json.dumps(request, separators=(",", ":")).encode())
    return out


def seed_hot_entities(store: Any, n: int, before: float, progress: Any) -> float:
    """Count `n` transactions on the hot card, device and IP (each entity then has `n` in
    its windows), dated over the 6 hours before `before`, through the store's own step
    (pipelined, without reads). Returns the seconds it took."""
    from fraudit.features.history import CardTransaction

    started = time.monotonic()
    chunk = 2_000
    for start in range(0, n, chunk):
        calls = []
        for i in range(start, min(n, start + chunk)):
            tx = CardTransaction(
                f"hot-seed-{i}", HOT_CARD, before - 21_600 + 21_600 * i / n, 0, 12.5,
                f"merchant_{i % 1_000}", "misc_net", 40.0, -75.0, 40.0, -75.0, 10_000,
                datetime(1980, 1, 1).date(), HOT_DEVICE, HOT_IP,
            )  # fmt: skip
            calls.append(store.begin_call(tx.transaction_id, tx=tx, read=False))
        store.begin_many(calls)
        if start % 100_000 == 0:
            progress(f"seeded {start:,} of {n:,}")
    return time.monotonic() - started


def mixed_load(
    port: int, seconds: float, hot: list[bytes], unrelated: list[bytes], clients: int, tag: str
) -> dict[str, float]:
    """One client on the hot card, device and IP beside `clients - 1` on unrelated cards,
    at once: each side's latency."""
    queue: mp.Queue = mp.Queue()
    start_at = time.monotonic() + 1.5
    stop_at = start_at + seconds
    share = len(unrelated) // (clients - 1)
    hot_tag = f"{tag}-hot"
    procs = [mp.Process(target=client_loop, args=(port, hot, start_at, stop_at, queue, hot_tag))]
    procs += [
        mp.Process(
            target=client_loop,
            args=(
                port,
                unrelated[c * share : (c + 1) * share],
                start_at,
                stop_at,
                queue,
                f"{tag}-unrelated-{c}",
            ),
        )
        for c in range(clients - 1)
    ]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    hot_ms = [ms for name, lat, _ in results if name == hot_tag for ms in lat]
    other_ms = [ms for name, lat, _ in results if name != hot_tag for ms in lat]
    return {
        "hot_requests": len(hot_ms),
        "hot_p50_ms": float(np.percentile(hot_ms, 50)),
        "hot_p99_ms": float(np.percentile(hot_ms, 99)),
        "unrelated_requests": len(other_ms),
        "unrelated_p50_ms": float(np.percentile(other_ms, 50)),
        "unrelated_p99_ms": float(np.percentile(other_ms, 99)),
        "errors": sum(e for _, _, e in results),
    }


def hot_entities(
    api_port: int,
    seconds: float,
    runs: int,
    card_bodies: list[bytes],
    redis_url: str,
    cluster: bool,
    n: int,
    topology: str,
) -> dict[str, Any]:
    """8 clients, one of them on a single card, device and IP: first with that client on
    ordinary cards (a cold store), then on the hot card, device and IP once each has `n`
    transactions in its windows, alternating with runs where it is back on ordinary cards
    (beside). Each side's latency, per run."""
    from fraudit.online.redis_store import OnlineStore

    settings = Settings(_env_file=None)
    store = OnlineStore(connect(redis_url, 30.0, cluster=cluster), prefix=settings.redis_key_prefix)
    half = len(card_bodies) // 2
    unrelated, ordinary = card_bodies[:half], card_bodies[half:]
    hot = hot_bodies(ordinary[:5_000])
    sent = [json.loads(b)["metadata"]["timestamp"] for b in hot]
    before = min(datetime.fromisoformat(t).timestamp() for t in sent) - 60
    name = topology.replace(" ", "-")
    cold_runs = [
        mixed_load(api_port, seconds, ordinary, unrelated, 8, f"{name}-cold-{run}")
        for run in range(runs)
    ]
    print(f"{topology}: cold store, 1 + 7 clients: {cold_runs}", file=sys.stderr)
    seed_seconds = seed_hot_entities(
        store, n, before, lambda m: print(f"{topology}: {m}", file=sys.stderr)
    )
    # Then the hot runs, each beside a run of the same store with that client back on
    # ordinary cards, alternating: the cold runs were minutes earlier, and this VM's speed
    # moved by a quarter between a run's phases (seeding took 125 s in one run, 156 s in
    # the next), which the ratio to the cold store carries as if the hot entities cost it.
    hot_runs, beside_runs = [], []
    for run in range(runs):
        for kind in ("hot", "beside") if run % 2 == 0 else ("beside", "hot"):
            bodies = hot if kind == "hot" else ordinary
            outcome = mixed_load(api_port, seconds, bodies, unrelated, 8, f"{name}-{kind}-{run}")
            (hot_runs if kind == "hot" else beside_runs).append(outcome)
    print(f"{topology}: hot entities, 1 + 7 clients: {hot_runs}", file=sys.stderr)
    print(f"{topology}: beside them, 1 + 7 clients: {beside_runs}", file=sys.stderr)
    cold, hot_summary = summarise(cold_runs), summarise(hot_runs)
    return {
        "transactions_per_hot_entity": n,
        "seed_seconds": seed_seconds,
        "cold": {"runs": cold_runs, "summary": cold},
        "hot": {"runs": hot_runs, "summary": hot_summary},
        "beside": {"runs": beside_runs, "summary": summarise(beside_runs)},
        "unrelated_p99_hot_over_cold": hot_summary["unrelated_p99_ms"]["median"]
        / cold["unrelated_p99_ms"]["median"],
        "unrelated_p99_hot_over_beside": statistics.median(
            h["unrelated_p99_ms"] / b["unrelated_p99_ms"]
            for h, b in zip(hot_runs, beside_runs, strict=True)
        ),
        "hot_card_p99_over_cold": hot_summary["hot_p99_ms"]["median"]
        / cold["hot_p99_ms"]["median"],
    }


def measure_store(
    topology: str,
    work: Path,
    model_dir: Path,
    kinesis_url: str,
    bodies: dict[str, list[bytes]],
    workers: int,
    seconds: float,
    runs: int,
    *,
    hot_transactions: int,
) -> dict[str, Any]:
    """The ULB and card paths at 1 and 8 clients on one Redis topology ("one server" or
    "cluster", 3 primaries on the same cores), then the hot entities beside unrelated
    cards."""
    cluster = topology == "cluster"
    if cluster:
        redis_server: Any = PrivateRedisCluster(free_cluster_ports(3), work / "cluster")
    else:
        redis_server = PrivateRedis(free_ports(1)[0], work / "redis.log")
    redis_server.start()
    nodes = redis_server.nodes if cluster else [redis_server]
    node_clients = [connect(node.url, 5.0) for node in nodes]
    model_port, api_port = free_ports(2)
    model_server = fraudit_process(
        ["serve-models", "--model-dir", str(model_dir), "--port", str(model_port)],
        {},
        work / f"models-{topology}.log",
    )
    model_url = f"http://127.0.0.1:{model_port}"
    measured: dict[str, Any] = {}
    api = None
    try:
        wait_for_http(f"{model_url}/ping", model_server)
        env = local_api_env(
            model_url,
            kinesis_url,
            model_dir,
            redis_server.url,
            FRAUDIT_REDIS_CLUSTER="true" if cluster else "false",
        )
        api = fraudit_process(
            ["api", "--port", str(api_port), "--workers", str(workers)],
            env,
            work / f"api-{topology}.log",
        )
        wait_for_http(f"http://127.0.0.1:{api_port}/health", api)
        api_pids = [api.pid, *children_of(api.pid)]
        for clients in (1, 8):
            per_path: dict[str, list[dict[str, float]]] = {"ulb": [], "cards": []}
            # The paths' runs alternate, each pair in turn led by the other path: the whole
            # set-up slows as it runs (kinesalite's stream grows; a 2026-12-07 run measured
            # the ULB path alone going from 6.7 to 8.1 ms p50 over its three runs), and a
            # path measured after the other would carry that drift as its own cost.
            for run in range(runs):
                for path in ("ulb", "cards") if run % 2 == 0 else ("cards", "ulb"):
                    tag = f"{topology}-{path}-{clients}-{run}".replace(" ", "-")
                    outcome = load(
                        api_port, clients, seconds, bodies[path], api_pids, node_clients, tag
                    )
                    per_path[path].append(outcome)
                    print(
                        f"{topology}: {path}, {clients} client(s), run {run + 1}: {outcome}",
                        file=sys.stderr,
                    )
            for path, per_run in per_path.items():
                measured[f"{path}_clients_{clients}"] = {
                    "runs": per_run,
                    "summary": summarise(per_run),
                }
        paired_runs = []
        for run in range(runs):
            tag = f"{topology}-paired-{run}".replace(" ", "-")
            paired_runs.append(paired_one_client(api_port, bodies, seconds, tag))
            print(
                f"{topology}: paired, 1 client, run {run + 1}: {paired_runs[-1]}", file=sys.stderr
            )
        measured["paired_1_client"] = {"runs": paired_runs, "summary": summarise(paired_runs)}
        measured["card_minus_ulb"] = card_minus_ulb(measured)
        measured["hot_entities"] = hot_entities(
            api_port, seconds, runs, bodies["cards"], redis_server.url, cluster,
            hot_transactions, topology,
        )  # fmt: skip
    finally:
        if api is not None:
            stop(api)
        stop(model_server)
        redis_server.stop()
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--stores", default="one server,cluster", help="Redis topologies, comma-separated"
    )
    parser.add_argument(
        "--hot-transactions",
        type=int,
        default=1_000_000,
        help="transactions on the hot card, device and IP",
    )
    args = parser.parse_args()
    seconds, runs = (3.0, 2) if args.quick else (args.seconds, args.runs)

    work = Path(tempfile.mkdtemp(prefix="fraudit-bench-api-"))
    model_dir = work / "models"
    run_training(
        Settings(_env_file=None, model_dir=model_dir),
        data_path=DEV_CSV if DEV_CSV.is_file() else None,
        progress=lambda m: None,
    )
    if not has_model(model_dir):
        raise SystemExit("training failed")
    card_model_from_scratch(work / "cards", Settings(_env_file=None, model_dir=model_dir), 40_000)
    ulb_bodies = [
        json.dumps(payload(i, fraud=i % 50 == 0, transaction_id="__TXID__")).encode()
        for i in range(20_000)
    ]
    history = work / "cards" / "replay.parquet"
    # ~230 cards: each gets tens of requests per run, about a month of a real card's
    # history (a few cards would each pile up thousands of transactions in minutes).
    simulate_history(history, 250_000, seed=8, say=print)
    cards = CardReplaySource(load_card_history(history, 30_000), "bench")
    card_bodies = [
        cards.payload(i).replace(f"card-42-{i}".encode(), TXID) for i in range(cards.n_rows)
    ]
    bodies = {"ulb": ulb_bodies, "cards": card_bodies}

    results: dict[str, object] = {
        "machine": machine(),
        "workers": args.workers,
        "seconds_per_run": seconds,
        "runs": runs,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    results["scoring_core"] = scoring_core(model_dir, 500 if args.quick else 5_000)
    print(f"scoring core: {results['scoring_core']}", file=sys.stderr)

    emulator = KinesisEmulator(REPO / ".fraudit" / "node", log_path=work / "kinesalite.log")
    emulator.start()
    emulator.create_stream(DEFAULT_STREAM_NAME, shards=2)
    try:
        for topology in args.stores.split(","):
            measured = measure_store(
                topology, work, model_dir, emulator.url, bodies, args.workers, seconds, runs,
                hot_transactions=10_000 if args.quick else args.hot_transactions,
            )  # fmt: skip
            if topology == "one server":
                results.update(measured)
            else:
                results[topology] = measured
    finally:
        emulator.stop()

    written = write_results("api", results, args.quick)
    for topology in args.stores.split(","):
        measured: dict[str, Any] = results if topology == "one server" else results[topology]  # type: ignore[assignment]
        print(f"\n{topology}")
        print(
            "| path | clients | throughput (req/s) | p50 (ms) | p99 (ms) | API CPU per request "
            "(ms) | Redis reads per request (round trips per node) |"
        )
        print("|---|---|---|---|---|---|---|")
        for clients in (1, 8):
            for path in ("ulb", "cards"):
                s = measured[f"{path}_clients_{clients}"]["summary"]
                print(
                    f"| {path} | {clients} | {cell(s, 'throughput_rps', 1)} | "
                    f"{cell(s, 'p50_ms', 2)} | {cell(s, 'p99_ms', 2)} | "
                    f"{cell(s, 'api_cpu_ms_per_request', 2)} | "
                    f"{cell(s, 'redis_reads_per_request', 2)} |"
                )
        print(f"card minus ULB: {measured['card_minus_ulb']}")
        print(f"hot entities: {measured['hot_entities']}")
    core = results["scoring_core"]
    print(f"scoring core in process: p50 {core['p50_ms']:.3f} ms, p99 {core['p99_ms']:.3f} ms")
    print(f"results: {written}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
