"""Benchmark: the inference API over HTTP on loopback, with the local model server,
kinesalite and a redis-server behind it, and the in-process scoring core.

- `fraudit api` (N worker processes), `fraudit serve-models` (both families), kinesalite
  and redis-server run as separate processes, as they would on a laptop; clients are
  separate processes with one keep-alive connection each, sending POST /predict, each
  request a new transaction_id (a repeat would be answered from its idempotency record).
- Two paths in the same run: ULB vectors (real rows) and card transactions (a simulated
  history, whose features the online store computes).
- For 1 and 8 concurrent clients: throughput, p50/p99 latency, the CPU the API processes
  spent per request (from /proc) and the Redis round trips per request (INFO commandstats:
  EVALSHA begins, PSETEX finishes), over several runs.
- Scoring core in process: validate + features + both models + decision, p50/p99.

    python bench/bench_api.py [--quick] [--workers 2] [--seconds 8]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import DEV_CSV, cell, machine, proc_stat, summarise, write_results  # noqa: E402
from fraudit.cli import card_model_from_scratch  # noqa: E402
from fraudit.cli import main as cli_main  # noqa: E402
from fraudit.local.kinesis_emulator import KinesisEmulator  # noqa: E402
from fraudit.local.redis_server import PrivateRedis  # noqa: E402
from fraudit.models.artifacts import load_bundle  # noqa: E402
from fraudit.models.layout import has_model  # noqa: E402
from fraudit.models.train import run_training  # noqa: E402
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

    while time.monotonic() < start_at:  # warm-up: connection, caches
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
    queue.put((latencies, errors))


def redis_round_trips(redis_client: Any) -> int:
    """Round trips the API made to Redis so far: its scripts' EVALSHA calls (begin,
    abandon) and its PSETEX finishes (the scripts never call PSETEX, nor can they EVALSHA)."""
    stats = redis_client.info("commandstats")
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "psetex")
    )


def load(
    port: int,
    clients: int,
    seconds: float,
    bodies: list[bytes],
    api_pids: list[int],
    redis_client: Any,
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
    trips_before = redis_round_trips(redis_client)
    results = [queue.get() for _ in procs]
    cpu_after = cpu_seconds(api_pids)
    trips_after = redis_round_trips(redis_client)
    for p in procs:
        p.join()
    latencies = [ms for lat, _ in results for ms in lat]
    errors = sum(e for _, e in results)
    return {
        "requests": len(latencies),
        "errors": errors,
        "throughput_rps": len(latencies) / seconds,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "api_cpu_ms_per_request": (cpu_after - cpu_before) * 1e3 / max(len(latencies), 1),
        # Includes the warm-up's requests' last round trips at most: a few per run.
        "redis_round_trips_per_request": (trips_after - trips_before) / max(len(latencies), 1),
    }


def scoring_core(model_dir: Path, n: int) -> dict[str, float]:
    from fraudit.api.service import decide, parse_request
    from fraudit.contracts import PredictRequest, ValidationClock
    from fraudit.scoring.local import InProcessScorer

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
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
    generate = ["generate-cards", "--transactions", "250000", "--seed", "8", "--out", str(history)]
    if cli_main(generate) != 0:
        raise SystemExit("simulating the card history failed")
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
    model_port, api_port, redis_port = free_ports(3)
    redis_server = PrivateRedis(redis_port, work / "redis.log")
    redis_server.start()
    redis_client = connect(redis_server.url, 5.0)
    model_server = fraudit_process(
        ["serve-models", "--model-dir", str(model_dir), "--port", str(model_port)],
        {},
        work / "models.log",
    )
    model_url = f"http://127.0.0.1:{model_port}"
    api = None
    try:
        wait_for_http(f"{model_url}/ping", model_server)
        env = {
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": model_url,
            "AWS_ENDPOINT_URL_KINESIS": emulator.url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "FRAUDIT_MODEL_DIR": str(model_dir),
            "FRAUDIT_REDIS_URL": redis_server.url,
            "FRAUDIT_LOG_LEVEL": "WARNING",
        }
        api = fraudit_process(
            ["api", "--port", str(api_port), "--workers", str(args.workers)], env, work / "api.log"
        )
        wait_for_http(f"http://127.0.0.1:{api_port}/health", api)
        api_pids = [api.pid, *children_of(api.pid)]
        for clients in (1, 8):
            for path in ("ulb", "cards"):
                per_run = []
                for run in range(runs):
                    tag = f"{path}-{clients}-{run}"
                    outcome = load(
                        api_port, clients, seconds, bodies[path], api_pids, redis_client, tag
                    )
                    per_run.append(outcome)
                    print(f"{path}, {clients} client(s), run {run + 1}: {outcome}", file=sys.stderr)
                results[f"{path}_clients_{clients}"] = {
                    "runs": per_run,
                    "summary": summarise(per_run),
                }
    finally:
        if api is not None:
            stop(api)
        stop(model_server)
        emulator.stop()
        redis_server.stop()

    ulb1, card1 = results["ulb_clients_1"]["summary"], results["cards_clients_1"]["summary"]
    ulb8, card8 = results["ulb_clients_8"]["summary"], results["cards_clients_8"]["summary"]
    results["card_minus_ulb"] = {
        "p50_ms_1_client": card1["p50_ms"]["median"] - ulb1["p50_ms"]["median"],
        "p99_ms_1_client": card1["p99_ms"]["median"] - ulb1["p99_ms"]["median"],
        "throughput_ratio_8_clients": card8["throughput_rps"]["median"]
        / ulb8["throughput_rps"]["median"],
    }
    path = write_results("api", results, args.quick)
    print(
        "| path | clients | throughput (req/s) | p50 (ms) | p99 (ms) | API CPU per request (ms) "
        "| Redis round trips per request |"
    )
    print("|---|---|---|---|---|---|---|")
    for clients in (1, 8):
        for path in ("ulb", "cards"):
            s = results[f"{path}_clients_{clients}"]["summary"]
            print(
                f"| {path} | {clients} | {cell(s, 'throughput_rps', 1)} | {cell(s, 'p50_ms', 2)} | "
                f"{cell(s, 'p99_ms', 2)} | {cell(s, 'api_cpu_ms_per_request', 2)} | "
                f"{cell(s, 'redis_round_trips_per_request', 2)} |"
            )
    print(f"card minus ULB: {results['card_minus_ulb']}")
    core = results["scoring_core"]
    print(f"scoring core in process: p50 {core['p50_ms']:.3f} ms, p99 {core['p99_ms']:.3f} ms")
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
