"""Benchmark: the local model server through a real boto3 sagemaker-runtime client.

Measures, for each endpoint, single-row invoke_endpoint latency (p50/p99 over many calls)
and 1,000-row batch latency, with the server in its own process (as in production) and the
client reusing its keep-alive connection (as the API does). Writes
bench/results/model_server-<date>.json and prints a Markdown table for docs/BENCHMARKS.md.

    python bench/bench_model_server.py [--quick] [--model-dir models] [--data creditcard.csv]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import DEV_CSV, cell, machine, summarise, write_results  # noqa: E402
from fraudit.data.creditcard import load_creditcard  # noqa: E402
from fraudit.data.synthetic import SyntheticCreditCard  # noqa: E402
from fraudit.families.ulb import ULB  # noqa: E402
from fraudit.models.layout import has_model  # noqa: E402
from fraudit.models.ulb.train import run_training  # noqa: E402
from fraudit.settings import Settings  # noqa: E402
from fraudit.ulb_vector import to_csv_row  # noqa: E402
from tests.support.processes import (  # noqa: E402
    fraudit_process,
    free_port,
    runtime_client,
    stop,
    wait_for_http,
)


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


def time_calls(call, n: int, warmup: int) -> list[float]:  # noqa: ANN001
    for _ in range(warmup):
        call()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def in_process(model_dir: Path, X: np.ndarray, n: int) -> dict[str, float]:
    """One-row scoring cost inside a process: our anomaly detector vs IsolationForest."""
    from sklearn.ensemble import IsolationForest

    from fraudit.models.ulb.bundle import load_bundle

    bundle = load_bundle(model_dir)
    forest = IsolationForest(n_estimators=100, random_state=0).fit(X[:10_000])
    row = X[:1]
    out = {}
    for name, call in (
        ("anomaly_detector", lambda: bundle.anomaly.score(row)),
        ("isolation_forest_predict", lambda: forest.predict(row)),
        ("classifier", lambda: bundle.classifier.inplace_predict(row)),
    ):
        out[name + "_p50"] = percentile(time_calls(call, n, warmup=20), 50)
    print(f"in-process one-row p50 (ms): {out}", file=sys.stderr)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls, for a smoke run")
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--data", type=Path, default=DEV_CSV if DEV_CSV.is_file() else None)
    args = parser.parse_args()
    singles, batches, runs = (300, 10, 3) if args.quick else (2_000, 50, 5)

    work = Path(tempfile.mkdtemp(prefix="fraudit-bench-"))
    model_dir = args.model_dir or work / "models"
    if not has_model(model_dir):
        print(f"training a model into {model_dir}", file=sys.stderr)
        run_training(
            Settings(_env_file=None, model_dir=model_dir),
            data_path=args.data,
            progress=lambda m: None,
        )
    data = (
        load_creditcard(args.data) if args.data else SyntheticCreditCard().generate(20_000, seed=1)
    )
    rows = [to_csv_row(r) for r in data.X[:1_000]]
    batch = "\n".join(rows).encode()

    results_inprocess = in_process(model_dir, data.X, 300 if args.quick else 3_000)

    port = free_port()
    server = fraudit_process(
        ["serve-models", "--model-dir", str(model_dir), "--port", str(port)],
        {},
        work / "server.log",
    )
    url = f"http://127.0.0.1:{port}"
    results: dict[str, object] = {
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": runs,
        "single_calls_per_run": singles,
        "batch_calls_per_run": batches,
        "endpoints": {},
        "in_process_single_row_ms": results_inprocess,
    }
    try:
        wait_for_http(f"{url}/ping", server)
        client = runtime_client(url)
        settings = Settings(_env_file=None)
        for endpoint in (
            settings.family(ULB).classifier_endpoint,
            settings.family(ULB).anomaly_endpoint,
        ):
            per_run = []
            for run in range(runs):
                i = iter(range(10**9))

                def one(endpoint: str = endpoint, i=i) -> None:  # noqa: ANN001
                    body = rows[next(i) % len(rows)].encode()
                    client.invoke_endpoint(
                        EndpointName=endpoint, Body=body, ContentType="text/csv"
                    )["Body"].read()

                def many(endpoint: str = endpoint) -> None:
                    out = client.invoke_endpoint(
                        EndpointName=endpoint, Body=batch, ContentType="text/csv"
                    )["Body"].read()
                    assert out.count(b"\n") >= 999 or out.count(b'"score"') == 1000

                single = time_calls(one, singles, warmup=50)
                many_ms = time_calls(many, batches, warmup=3)
                per_run.append(
                    {
                        "single_p50_ms": percentile(single, 50),
                        "single_p99_ms": percentile(single, 99),
                        "batch1000_p50_ms": percentile(many_ms, 50),
                        "batch1000_max_ms": max(many_ms),
                    }
                )
                print(f"{endpoint} run {run + 1}/{runs}: {per_run[-1]}", file=sys.stderr)
            results["endpoints"][endpoint] = {"runs": per_run, "summary": summarise(per_run)}
    finally:
        stop(server)

    path = write_results("model_server", results, args.quick)
    print("| endpoint | single p50 (ms) | single p99 (ms) | 1,000-row batch p50 (ms) |")
    print("|---|---|---|---|")
    for endpoint, r in results["endpoints"].items():
        s = r["summary"]
        print(
            f"| {endpoint} | {cell(s, 'single_p50_ms')} | {cell(s, 'single_p99_ms')} | "
            f"{cell(s, 'batch1000_p50_ms')} |"
        )
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
