"""Benchmark: the inference API over HTTP on loopback, with the local model server and
kinesalite behind it, and the in-process scoring core.

- `fraudit api` (N worker processes), `fraudit serve-models` and kinesalite run as separate
  processes, as they would on a laptop; clients are separate processes with one keep-alive
  connection each, sending POST /predict with distinct real transactions.
- For 1 and 8 concurrent clients: throughput, p50/p99 latency, and the CPU the API
  processes spent per request (from /proc), over several runs.
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
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import DEV_CSV, cell, machine, proc_stat, summarise, write_results  # noqa: E402
from fraudit.local.kinesis_emulator import KinesisEmulator  # noqa: E402
from fraudit.models.artifacts import load_bundle  # noqa: E402
from fraudit.models.layout import has_model  # noqa: E402
from fraudit.models.train import run_training  # noqa: E402
from fraudit.settings import DEFAULT_STREAM_NAME, Settings  # noqa: E402
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


def client_loop(
    port: int, bodies: list[bytes], start_at: float, stop_at: float, queue: mp.Queue
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    latencies, errors, i = [], 0, 0
    while time.monotonic() < start_at:  # warm-up: connection, caches
        conn.request("POST", "/predict", bodies[i % len(bodies)], headers)
        conn.getresponse().read()
        i += 1
    while (now := time.monotonic()) < stop_at:
        conn.request("POST", "/predict", bodies[i % len(bodies)], headers)
        response = conn.getresponse()
        response.read()
        latencies.append((time.monotonic() - now) * 1e3)
        errors += response.status != 200
        i += 1
    queue.put((latencies, errors))


def load(
    port: int, clients: int, seconds: float, bodies: list[bytes], api_pids: list[int]
) -> dict[str, float]:
    queue: mp.Queue = mp.Queue()
    start_at = time.monotonic() + 1.5
    stop_at = start_at + seconds
    share = len(bodies) // clients
    procs = [
        mp.Process(
            target=client_loop,
            args=(port, bodies[c * share : (c + 1) * share], start_at, stop_at, queue),
        )
        for c in range(clients)
    ]
    for p in procs:
        p.start()
    time.sleep(max(0.0, start_at - time.monotonic()))
    cpu_before = cpu_seconds(api_pids)
    results = [queue.get() for _ in procs]
    cpu_after = cpu_seconds(api_pids)
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
    }


def scoring_core(model_dir: Path, n: int) -> dict[str, float]:
    from fraudit.api.service import decide, parse_request
    from fraudit.scoring.local import InProcessScorer

    bundle = load_bundle(model_dir)
    scorer = InProcessScorer(bundle)
    bodies = [json.loads(json.dumps(payload(i, fraud=i % 10 == 0))) for i in range(200)]
    times = []
    now = datetime.now(UTC)
    for i in range(n + 200):
        start = time.perf_counter()
        request = parse_request(bodies[i % len(bodies)])
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
    bodies = [
        json.dumps(payload(i, fraud=i % 50 == 0, transaction_id=f"bench-{i}")).encode()
        for i in range(20_000)
    ]

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
    model_port, api_port = free_ports(2)
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
            "FRAUDIT_LOG_LEVEL": "WARNING",
        }
        api = fraudit_process(
            ["api", "--port", str(api_port), "--workers", str(args.workers)], env, work / "api.log"
        )
        wait_for_http(f"http://127.0.0.1:{api_port}/health", api)
        api_pids = [api.pid, *children_of(api.pid)]
        for clients in (1, 8):
            per_run = []
            for run in range(runs):
                outcome = load(api_port, clients, seconds, bodies, api_pids)
                per_run.append(outcome)
                print(f"{clients} client(s) run {run + 1}/{runs}: {outcome}", file=sys.stderr)
            results[f"clients_{clients}"] = {"runs": per_run, "summary": summarise(per_run)}
    finally:
        if api is not None:
            stop(api)
        stop(model_server)
        emulator.stop()

    path = write_results("api", results, args.quick)
    print("| clients | throughput (req/s) | p50 (ms) | p99 (ms) | API CPU per request (ms) |")
    print("|---|---|---|---|---|")
    for clients in (1, 8):
        s = results[f"clients_{clients}"]["summary"]
        print(
            f"| {clients} | {cell(s, 'throughput_rps', 1)} | {cell(s, 'p50_ms', 1)} | "
            f"{cell(s, 'p99_ms', 1)} | {cell(s, 'api_cpu_ms_per_request', 1)} |"
        )
    core = results["scoring_core"]
    print(f"scoring core in process: p50 {core['p50_ms']:.3f} ms, p99 {core['p99_ms']:.3f} ms")
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
