"""Benchmark: the streaming ELT, Kinesis (kinesalite on loopback) -> Spark -> PostgreSQL.

Figures, each over repeated runs (median, min-max), all in the same run so ratios compare
like with like:
- emulator read ceiling: boto3 GetRecords over every shard, no Spark (sequential, as the
  driver-side reader reads, and one thread per shard, as a partition-per-shard reader could);
- our reader alone into Spark's noop sink (records/s after the first batch);
- end to end, stream -> transform -> PostgreSQL with indicators and rollups (records/s after
  the first batch);
- the sink alone (PostgresSink.write, indicators included) against a raw COPY of the same
  rows into the same table;
- put -> row-visible latency at a steady 500 events/s (p50/p95/p99), at the CLI's default
  trigger (1 s) and at 250 ms.

    python bench/bench_stream.py [--quick] [--runs N] [--warmup-rounds N]

The timed runs follow three untimed rounds of every path (--warmup-rounds), so that they
measure the JIT-compiled job: "sustained, after warm-up". Each run also records the CPU
the JVM's JIT compiler used during it, which says how close to compiled the job was.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import cell, machine, proc_stat, summarise, write_results  # noqa: E402
from fraudit.api.plan import encode_event  # noqa: E402
from fraudit.contracts import ScoredEvent  # noqa: E402
from fraudit.decisions import APPROVE, DECLINE, REVIEW  # noqa: E402
from fraudit.local.kinesis_emulator import KinesisEmulator  # noqa: E402
from fraudit.local.pg_cluster import temporary_database  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SHARDS = 2
BASE = datetime(2025, 8, 21, tzinfo=UTC)


def scored_event(i: int, when: datetime | None = None) -> bytes:
    """A ~500-byte event like the API publishes: 5,000 cards, each with its device and IP."""
    user = (i * 7919) % 5000
    e = ScoredEvent(
        event_id=f"bench-{i:09d}",
        timestamp=when or BASE + timedelta(milliseconds=50 * i),
        scored_at=when or BASE + timedelta(milliseconds=50 * i + 4),
        user_id=f"u_{user:06d}",
        source=("checkout", "web", "mobile_app", "pos")[i % 4],
        amount=round(1 + (i * 104729 % 30000) / 100, 2),
        fraud_prediction=int(i % 577 == 0),
        fraud_proba=round((i % 1000) / 1000, 4),
        anomaly_score=round(0.2 + (i % 97) / 40, 4),
        decision=DECLINE if i % 50 == 0 else REVIEW if i % 20 == 0 else APPROVE,
        model_version="2026-11-21T000000Z",
        policy_version="p-2026-11-21",
        ip_address=f"{23 + user % 100}.{user % 251}.{(user * 7) % 253}.{(user * 13) % 254 + 1}",
        device_info={
            "device_id": f"d_{user:06x}",
            "device_type": "mobile",
            "os_version": "iOS 18",
            "app_version": "3.0.2",
        },
        geo={
            "country": ("US", "FR", "GB", "DE", "BR")[user % 5],
            "region": "R",
            "city": "City",
            "latitude": 40.7,
            "longitude": -74.0,
        },
    )
    return encode_event(e)[0]


def put_events(client: Any, stream: str, first: int, count: int) -> None:
    for start in range(first, first + count, 500):
        records = [
            {"Data": scored_event(i), "PartitionKey": f"k{i}"}
            for i in range(start, min(start + 500, first + count))
        ]
        out = client.put_records(StreamName=stream, Records=records)
        assert out.get("FailedRecordCount", 0) == 0, out


def fresh_database() -> AbstractContextManager[str]:
    return temporary_database(ADMIN_URL, "fraudit_bench")


def read_ceiling(client: Any, stream: str, parallel: bool) -> float:
    """Records/s of GetRecords alone, TRIM_HORIZON to the end of every shard."""
    shards = [s["ShardId"] for s in client.list_shards(StreamName=stream)["Shards"]]

    def drain(shard: str) -> int:
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        total = 0
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=10_000)
            total += len(page["Records"])
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")
        return total

    started = time.perf_counter()
    if parallel:
        with ThreadPoolExecutor(len(shards)) as pool:
            total = sum(pool.map(drain, shards))
    else:
        total = sum(drain(s) for s in shards)
    return total / (time.perf_counter() - started)


def sustained_rate(query: Any, tail_seconds: float = 0.0) -> float:
    """Records/s over every batch after the first (the warm-up: JIT, connections).
    `tail_seconds`: work left after the last trigger (the pipelined job's last write)."""
    batches = [p for p in query.recentProgress if p["numInputRows"]][1:]
    rows = sum(p["numInputRows"] for p in batches)
    seconds = sum(p["durationMs"]["triggerExecution"] for p in batches) / 1000 + tail_seconds
    return rows / seconds if seconds else float("nan")


def jit_cpu_seconds(jvm_pid: int) -> float:
    """CPU time the JVM's JIT compiler threads have used so far (Linux /proc): how far from
    compiled the job still is. NaN where /proc is not there."""
    tasks = Path(f"/proc/{jvm_pid}/task")
    if not tasks.is_dir():
        return float("nan")
    total = 0.0
    for task in tasks.iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            name, seconds = proc_stat(task / "stat")
            if name.startswith(("C1 CompilerThre", "C2 CompilerThre")):
                total += seconds
    return total


def kinesis_reader(spark: Any, url: str, stream: str, limit: int) -> Any:
    return (
        spark.readStream.format("kinesis")
        .option("streamName", stream)
        .option("endpointUrl", url)
        .option("startingPosition", "TRIM_HORIZON")
        .option("maxRecordsPerTrigger", str(limit))
        .load()
    )


def run_noop(spark: Any, url: str, stream: str, limit: int) -> float:
    query = (
        kinesis_reader(spark, url, stream, limit)
        .writeStream.format("noop")
        .option("checkpointLocation", tempfile.mkdtemp(prefix="bench-noop-"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return sustained_rate(query)


def run_end_to_end(
    spark: Any, url: str, stream: str, limit: int, database: str, pipelined: bool = True
) -> float:
    """As `fraudit stream` loads: pipelined (PostgreSQL loads batch N while Spark reads
    N+1), or synchronously (each batch loaded before Spark commits it, as on Glue)."""
    from fraudit.stream.load import PostgresSink
    from fraudit.stream.local_job import batch_function

    sink = PostgresSink(database)
    checkpoint = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    each_batch, writer = batch_function(sink, database, checkpoint, pipelined=pipelined)
    query = (
        kinesis_reader(spark, url, stream, limit)
        .writeStream.foreachBatch(each_batch)
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    started = time.perf_counter()
    if writer is not None:
        writer.close()  # the last batch's write, which no trigger's duration includes
    else:
        sink.close()
    return sustained_rate(query, time.perf_counter() - started)


def transformed_table(spark: Any, count: int) -> Any:
    """A transformed batch as the job's foreachBatch hands it to the sink (Arrow)."""
    from fraudit.stream.schema import RAW_RECORD_SCHEMA
    from fraudit.stream.transform import transform

    raw = spark.createDataFrame(
        [(scored_event(i), "shardId-000000000000", str(10**20 + i), None) for i in range(count)],
        RAW_RECORD_SCHEMA,
    )
    return transform(raw).toArrow()


def sink_vs_copy(table: Any) -> dict[str, float]:
    """Seconds for the sink to load a transformed batch as the job does (rows, rollups and
    indicators, one transaction), and for a raw COPY of the same rows into the same
    (indexed, empty) table: Arrow's CSV of them through one COPY, the fastest plain way
    to load them. Each in a fresh database."""
    import psycopg

    from fraudit.db.schema import apply_schema
    from fraudit.stream.indicators import RuleSet
    from fraudit.stream.load import CopyBatch, PostgresSink

    out: dict[str, float] = {}
    with fresh_database() as url, psycopg.connect(url) as conn:
        apply_schema(conn)
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            CopyBatch.from_arrow(table).copy_into(cur, "fraud_predictions")
        out["raw_copy_s"] = time.perf_counter() - started
    for label, rules in (("sink_s", None), ("sink_no_rules_s", RuleSet(rule=()))):
        with fresh_database() as url:
            sink = PostgresSink(url, rules=rules)
            sink.load(CopyBatch([], []))  # connect and create the schema outside the timing
            started = time.perf_counter()
            result = sink.load(CopyBatch.from_arrow(table))  # the same input as the raw COPY
            out[label] = time.perf_counter() - started
            assert result.inserted == table.num_rows, result
            sink.close()
    return out


def latency(
    spark: Any,
    emulator: KinesisEmulator,
    rate: int,
    seconds: float,
    trigger: str,
    warmup: float = 5.0,
) -> dict[str, float]:
    """Put at a steady rate; a poller notes when each event becomes visible in PostgreSQL."""
    import psycopg

    from fraudit.stream.local_job import StreamOptions, start

    stream = f"latency-{uuid.uuid4().hex[:6]}"
    emulator.create_stream(stream, SHARDS)
    client = emulator.client()
    put_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    done = threading.Event()
    with fresh_database() as url:
        options = StreamOptions(
            stream_name=stream,
            endpoint_url=emulator.url,
            region="us-east-1",
            starting_position="TRIM_HORIZON",
            starting_timestamp=None,
            trigger_interval=trigger,
            checkpoint_dir=Path(tempfile.mkdtemp(prefix="bench-latency-")),
            database_url=url,
        )
        query = start(spark, options)

        def produce() -> None:
            per_tick, tick = rate // 10, 0.1
            i, next_at, end_at = 0, time.perf_counter(), time.perf_counter() + warmup + seconds
            while next_at < end_at:
                now = datetime.now(UTC)
                batch = [(f"bench-{i + k:09d}", scored_event(i + k, now)) for k in range(per_tick)]
                sent = time.perf_counter()
                client.put_records(
                    StreamName=stream,
                    Records=[{"Data": data, "PartitionKey": event_id} for event_id, data in batch],
                )
                for event_id, _ in batch:
                    put_at[event_id] = sent
                i += per_tick
                next_at += tick
                time.sleep(max(0.0, next_at - time.perf_counter()))
            done.set()

        def poll() -> None:
            since = datetime(1970, 1, 1, tzinfo=UTC)
            with psycopg.connect(url, autocommit=True) as conn:
                while not (done.is_set() and len(seen_at) >= len(put_at)):
                    try:
                        rows = conn.execute(
                            "SELECT event_id, processed_at FROM "
                            "fraud_predictions WHERE processed_at >= %s",
                            (since,),
                        ).fetchall()
                    except psycopg.errors.UndefinedTable:
                        rows = []
                    now = time.perf_counter()
                    for event_id, processed_at in rows:
                        seen_at.setdefault(event_id, now)
                        since = max(since, processed_at)
                    time.sleep(0.02)

        producer = threading.Thread(target=produce)
        poller = threading.Thread(target=poll, daemon=True)
        started = time.perf_counter()
        producer.start()
        poller.start()
        producer.join()
        poller.join(timeout=60)
        query.stop()
    kept = [
        seen_at[e] - put_at[e] for e in put_at if e in seen_at and put_at[e] - started >= warmup
    ]
    kept.sort()
    q = statistics.quantiles(kept, n=100)
    return {
        "p50_s": q[49],
        "p95_s": q[94],
        "p99_s": q[98],
        "lost": float(len(put_at) - len(seen_at)),
    }


def warm_up(spark: Any, emulator: KinesisEmulator, records: int, limit: int) -> None:
    """One untimed pass of every measured path on a stream of its own. Spark plans each
    micro-batch anew, and the JIT compiles that planning code only as its counts build up:
    after one round, its compiler threads still used 3-4 CPU-s per 100,000-record
    end-to-end run, declining to about 1.5 after eight (docs/BENCHMARKS.md); a job that
    runs for hours is past that."""
    stream = f"bench-warmup-{uuid.uuid4().hex[:6]}"
    emulator.create_stream(stream, SHARDS)
    put_events(emulator.client(), stream, 0, records)
    run_noop(spark, emulator.url, stream, limit)
    for pipelined in (True, False):
        with fresh_database() as url:
            run_end_to_end(spark, emulator.url, stream, limit, url, pipelined=pipelined)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, help="repetitions (default 3; 2 with --quick)")
    parser.add_argument(
        "--warmup-rounds",
        type=int,
        default=3,
        help="untimed rounds of every measured path first (default 3)",
    )
    args = parser.parse_args()
    records = 20_000 if args.quick else 100_000
    runs = args.runs or (2 if args.quick else 3)
    latency_seconds = 15.0 if args.quick else 40.0
    limit = 10_000

    from fraudit.stream.kinesis_consumer import KinesisDataSource
    from fraudit.stream.spark_session import local_session

    spark = local_session("fraudit-bench-stream", "local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    spark.dataSource.register(KinesisDataSource)
    jvm_pid = int(spark._jvm.java.lang.ProcessHandle.current().pid())
    emulator = KinesisEmulator(
        REPO / ".fraudit" / "node", log_path=Path(tempfile.mkdtemp()) / "kinesalite.log"
    )
    emulator.start()
    try:
        client = emulator.client()
        for round_ in range(args.warmup_rounds):
            warm_up(spark, emulator, records, limit)
            print(f"warm-up round {round_ + 1}/{args.warmup_rounds} done", flush=True)
        per_run = []
        for run in range(runs):
            stream = f"bench-{run}-{uuid.uuid4().hex[:6]}"
            emulator.create_stream(stream, SHARDS)
            put_events(client, stream, 0, records)
            figures = {
                "emulator_sequential_rps": read_ceiling(client, stream, parallel=False),
                "emulator_parallel_rps": read_ceiling(client, stream, parallel=True),
            }
            jit_before = jit_cpu_seconds(jvm_pid)
            figures["reader_noop_rps"] = run_noop(spark, emulator.url, stream, limit)
            jit_between = jit_cpu_seconds(jvm_pid)
            with fresh_database() as url:
                figures["end_to_end_rps"] = run_end_to_end(spark, emulator.url, stream, limit, url)
            figures["noop_jit_cpu_s"] = jit_between - jit_before
            figures["end_to_end_jit_cpu_s"] = jit_cpu_seconds(jvm_pid) - jit_between
            with fresh_database() as url:
                figures["end_to_end_sync_rps"] = run_end_to_end(
                    spark, emulator.url, stream, limit, url, pipelined=False
                )
            figures["e2e_over_noop"] = figures["end_to_end_rps"] / figures["reader_noop_rps"]
            figures["e2e_sync_over_noop"] = (
                figures["end_to_end_sync_rps"] / figures["reader_noop_rps"]
            )
            figures["noop_over_emulator"] = (
                figures["reader_noop_rps"] / figures["emulator_sequential_rps"]
            )
            copy = sink_vs_copy(transformed_table(spark, min(records, 20_000)))
            figures.update(copy)
            figures["sink_over_copy"] = copy["raw_copy_s"] / copy["sink_s"]
            figures["sink_no_rules_over_copy"] = copy["raw_copy_s"] / copy["sink_no_rules_s"]
            for trigger, key in (("1 second", "1s"), ("250 milliseconds", "250ms")):
                lat = latency(spark, emulator, 500, latency_seconds, trigger)
                figures.update({f"latency_{key}_{k}": v for k, v in lat.items()})
            per_run.append(figures)
            print(
                f"run {run + 1}/{runs}: " + ", ".join(f"{k}={v:.3g}" for k, v in figures.items()),
                flush=True,
            )
    finally:
        emulator.stop()
        spark.stop()

    summary = summarise(per_run)
    rows = min(records, 20_000)
    results = {
        "machine": machine(),
        "records": records,
        "runs": runs,
        "warmup_rounds": args.warmup_rounds,
        "shards": SHARDS,
        "max_records_per_trigger": limit,
        "sink_rows": rows,
        "latency_seconds": latency_seconds,
        "summary": summary,
        "per_run": per_run,
    }
    path = write_results("stream", results, args.quick)
    print(f"\nresults: {path}")
    print(
        f"emulator read ceiling, sequential: {cell(summary, 'emulator_sequential_rps', 0)} "
        f"records/s; one thread per shard: {cell(summary, 'emulator_parallel_rps', 0)}"
    )
    print(
        f"reader -> noop: {cell(summary, 'reader_noop_rps', 0)} records/s "
        f"({cell(summary, 'noop_over_emulator')} of the sequential ceiling)"
    )
    print(
        f"end to end -> PostgreSQL, pipelined (as `fraudit stream`): "
        f"{cell(summary, 'end_to_end_rps', 0)} records/s "
        f"({cell(summary, 'e2e_over_noop')} of reader -> noop; target >= 0.60)"
    )
    print(
        f"JIT compiler CPU during each timed run: noop {cell(summary, 'noop_jit_cpu_s')} s, "
        f"end to end {cell(summary, 'end_to_end_jit_cpu_s')} s"
    )
    print(
        f"end to end -> PostgreSQL, synchronous (as on Glue): "
        f"{cell(summary, 'end_to_end_sync_rps', 0)} records/s "
        f"({cell(summary, 'e2e_sync_over_noop')} of reader -> noop)"
    )
    print(
        f"sink {cell(summary, 'sink_s', 3)} s vs raw COPY {cell(summary, 'raw_copy_s', 3)} s "
        f"for {rows} rows: ratio {cell(summary, 'sink_over_copy')} (target >= 0.50); "
        f"without indicators {cell(summary, 'sink_no_rules_over_copy')}"
    )
    for key, label in (("1s", "1 s"), ("250ms", "250 ms")):
        print(
            f"put -> visible at 500 ev/s, trigger {label}: p50 "
            f"{cell(summary, f'latency_{key}_p50_s')} s, p95 "
            f"{cell(summary, f'latency_{key}_p95_s')} s, p99 "
            f"{cell(summary, f'latency_{key}_p99_s')} s (target p95 < 2 s); lost "
            f"{cell(summary, f'latency_{key}_lost', 0)}"
        )


if __name__ == "__main__":
    main()
