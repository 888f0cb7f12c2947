"""Benchmark: rules and reasons (docs/RULES.md), in one run.

- In process, on real scored card events (read back from the stream the HTTP part fed):
  the per-request cost of 50 live + 50 shadow rules (rule inputs + one evaluation), with
  three lists of 100,000 entries; list membership; what a refreshing request pays to
  parse and compile a new document; the reasons' cost per explained row (TreeSHAP and the
  detector's terms) beside a prediction.
- Over HTTP (`fraudit api`, 2 workers, the local model server, kinesalite, redis-server):
  one client sending card transactions, runs alternating between an empty ruleset and the
  100-rule one (the API refreshes the file within a second): p50/p99 of approvals, and of
  reviews and declines (which carry reasons) apart.

    python bench/bench_rules.py [--quick] [--seconds 8] [--runs 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_api import TXID  # noqa: E402
from bench.common import DEV_CSV, local_api_env, machine, write_results  # noqa: E402
from fraudit.contracts import ScoredEvent  # noqa: E402
from fraudit.decisions import APPROVE, DECLINE, REVIEW, RuleAction  # noqa: E402
from fraudit.families import families, family  # noqa: E402
from fraudit.local.kinesis_emulator import KinesisEmulator  # noqa: E402
from fraudit.local.redis_server import PrivateRedis  # noqa: E402
from fraudit.models.cards.from_scratch import card_model_from_scratch, simulate_history  # noqa: E402
from fraudit.models.ulb.train import run_training  # noqa: E402
from fraudit.rules.document import PublishedList, PublishedRule, RulesetDocument  # noqa: E402
from fraudit.rules.engine import CompiledRuleset  # noqa: E402
from fraudit.rules.fields import rule_inputs  # noqa: E402
from fraudit.settings import DEFAULT_STREAM_NAME, Settings  # noqa: E402
from fraudit.simulator.source import CardReplaySource, load_card_history  # noqa: E402
from tests.support.processes import fraudit_process, free_ports, stop, wait_for_http  # noqa: E402

CARDS = family("cards")
LIST_ENTRIES = 100_000

# Rule shapes of a card team's ruleset: velocity, amounts, places, devices, lists. The
# thresholds are drawn far out so the rules rarely fire, as a team's rules do (and since the
# replayed history is compressed in time, its velocity features run high): the comparison
# with and without rules then measures the rules' cost, not a different decision mix.
_SHAPES = (
    "card_count_10m >= {n} && amount < {a}.5",
    "card_count_1h >= {n} || card_amount_sum_1h > {big}.0",
    "amount > {big}.0 && card_new_merchant_30d",
    "merchant_category == 'misc_net' && card_amount_sum_24h > {big}.0",
    "card_speed_from_previous_kmh > {speed}.0",
    "device_distinct_cards_24h >= {n}",
    "ip_distinct_cards_1h >= {n} && amount > {a}.0",
    "card_amount_to_mean_30d > {ratio}.0 && amount > {a}.0",
    "in_list('blocked_cards', card_token)",
    "in_list('risky_merchants', merchant_id) && amount > {a}.0",
    "in_list('bad_devices', device_id)",
    "hour >= 1 && hour <= 4 && amount > {big}.0",
    "fraud_proba > 0.{p} && anomaly_score > {n}.0",
)


def ruleset(version: str, rules: int, rng: random.Random) -> RulesetDocument:
    made = []
    for i in range(rules):
        shape = _SHAPES[i % len(_SHAPES)]
        expression = shape.format(
            n=rng.randint(200, 900),
            a=rng.randint(1, 20),
            big=rng.randint(30_000, 90_000),
            speed=rng.randint(50_000, 90_000),
            ratio=rng.randint(200, 900),
            p=rng.randint(95, 99),
        )
        action = tuple(RuleAction)[i % 5] if i % 2 else RuleAction.REVIEW
        made.append(
            PublishedRule(
                rule_id=f"rule_{i:03d}",
                version=1,
                family="cards",
                state="live" if i % 2 == 0 else "shadow",
                action=action,
                priority=i,
                expression=expression,
                reason=f"bench rule {i}",
                adjustment=0.05 if action is RuleAction.ADJUST else None,
            )
        )
    lists = tuple(
        PublishedList(
            name=name,
            kind=kind,
            version=1,
            entries={f"{prefix}{k:06d}": (None if k % 3 else 4.0e9) for k in range(LIST_ENTRIES)},
        )
        for name, kind, prefix in (
            ("blocked_cards", "card", "card_blocked_"),
            ("risky_merchants", "merchant", "merchant_risky_"),
            ("bad_devices", "device", "device_bad_"),
        )
    )
    return RulesetDocument(
        version=version, published_at=datetime.now(UTC), rules=tuple(made), lists=lists
    )


def single(expression: str, lists: tuple[PublishedList, ...]) -> Any:
    """One live card rule, compiled beside `lists`."""
    rule = PublishedRule(
        rule_id="only", version=1, family="cards", state="live", action=RuleAction.BLOCK,
        expression=expression, reason="bench",
    )  # fmt: skip
    document = RulesetDocument(
        version="one", published_at=datetime.now(UTC), rules=(rule,), lists=lists
    )
    return CompiledRuleset(document, families()).for_family(CARDS)


def percentiles(values: list[float]) -> dict[str, float]:
    return {
        "p50": float(np.percentile(values, 50)),
        "p99": float(np.percentile(values, 99)),
        "n": len(values),
    }


def timed(work: Any, items: list[Any], repeats: int) -> dict[str, float]:
    """Microseconds per item, over `repeats` passes (the first pass is a warm-up)."""
    times = []
    for repeat in range(repeats + 1):
        for item in items:
            started = time.perf_counter()
            work(item)
            if repeat:
                times.append((time.perf_counter() - started) * 1e6)
    return percentiles(times)


def in_process(events: list[ScoredEvent], model_dir: Path, quick: bool) -> dict[str, Any]:
    rng = random.Random(5)
    document = ruleset("rs-bench", 100, rng)
    compiled = CompiledRuleset(document, families())
    rules = compiled.for_family(CARDS)
    repeats = 1 if quick else 3

    def evaluate(event: ScoredEvent) -> None:  # as the API does (fraudit.api.plan.decide)
        rules.evaluate(rule_inputs(event, rules.used), event.scored_at.timestamp())

    fired = [len(rules.evaluate(rule_inputs(e), e.scored_at.timestamp())[0]) for e in events]
    only_list = single("in_list('blocked_cards', card_token)", document.lists)
    no_list = single("card_token == 'card_blocked_000001'", ())
    inputs = [rule_inputs(e) for e in events]
    hit = dict(inputs[0], card_token="card_blocked_000004")
    text = document.to_json()
    compile_ms = []
    for _ in range(2 if quick else 5):
        started = time.perf_counter()
        CompiledRuleset(RulesetDocument.from_json(text), families())
        compile_ms.append((time.perf_counter() - started) * 1e3)

    from fraudit.models.cards.serving import in_process_scorer

    scorer = in_process_scorer(model_dir, None)
    rows = [e.features for e in events[:500] if e.features is not None]
    return {
        "events": len(events),
        "rules": {"live": 50, "shadow": 50, "lists": 3, "entries_per_list": LIST_ENTRIES},
        "rules_fired_per_event_mean": statistics.fmean(fired),
        "per_request_us": timed(evaluate, events, repeats),
        "inputs_only_us": timed(lambda e: rule_inputs(e, rules.used), events, repeats),
        "faults_per_event_mean": statistics.fmean(
            len(rules.evaluate(rule_inputs(e, rules.used), 0.0)[1]) for e in events
        ),
        "in_list_rule_us": timed(lambda i: only_list.evaluate(i, 0.0), inputs, repeats),
        "in_list_hit_us": timed(lambda i: only_list.evaluate(i, 0.0), [hit] * 500, repeats),
        "equality_rule_us": timed(lambda i: no_list.evaluate(i, 0.0), inputs, repeats),
        "document_bytes": len(text),
        "parse_and_compile_ms": {
            "median": statistics.median(compile_ms),
            "max": max(compile_ms),
        },
        "classifier_trees": len(scorer._classifier.get_dump()),
        "explain_row_us": timed(lambda r: scorer.explain([r]), rows, 1),
        "score_row_us": timed(lambda r: scorer.score([r]), rows, 1),
    }


def client(port: int, bodies: list[bytes], seconds: float, tag: str) -> dict[str, list[float]]:
    """One keep-alive client for `seconds` (after a second's warm-up): latencies by the
    answer's decision."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    by_decision: dict[str, list[float]] = {}
    started = time.monotonic()
    i = 0
    while (now := time.monotonic()) < started + 1 + seconds:
        conn.request(
            "POST",
            "/predict",
            bodies[i % len(bodies)].replace(TXID, f"{tag}-{i}".encode()),
            headers,
        )
        response = conn.getresponse()
        answer = json.loads(response.read())
        if now >= started + 1 and response.status == 200:
            by_decision.setdefault(answer["decision"], []).append((time.monotonic() - now) * 1e3)
        i += 1
    return by_decision


def over_http(
    work: Path, model_dir: Path, bodies: list[bytes], seconds: float, runs: int
) -> tuple[dict[str, Any], list[ScoredEvent]]:
    emulator = KinesisEmulator(REPO / ".fraudit" / "node", log_path=work / "kinesalite.log")
    emulator.start()
    emulator.create_stream(DEFAULT_STREAM_NAME, shards=1)
    redis_port, model_port, api_port = free_ports(3)
    redis_server = PrivateRedis(redis_port, work / "redis.log")
    redis_server.start()
    ruleset_path = work / "ruleset.json"
    empty = RulesetDocument(version="rs-empty", published_at=datetime.now(UTC))
    full = ruleset("rs-bench", 100, random.Random(5))
    ruleset_path.write_text(empty.to_json())
    model_server = fraudit_process(
        ["serve-models", "--model-dir", str(model_dir), "--port", str(model_port)],
        {},
        work / "models.log",
    )
    api = None
    try:
        wait_for_http(f"http://127.0.0.1:{model_port}/ping", model_server)
        env = local_api_env(
            f"http://127.0.0.1:{model_port}",
            emulator.url,
            model_dir,
            redis_server.url,
            FRAUDIT_RULESET_URI=str(ruleset_path),
            FRAUDIT_RULESET_REFRESH_SECONDS="1",
        )
        api = fraudit_process(
            ["api", "--port", str(api_port), "--workers", "2"], env, work / "api.log"
        )
        wait_for_http(f"http://127.0.0.1:{api_port}/health", api)
        measured: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
        for run in range(runs):
            for kind in ("without", "with") if run % 2 == 0 else ("with", "without"):
                ruleset_path.write_text((full if kind == "with" else empty).to_json())
                time.sleep(2.5)  # past the API's 1 s refresh, in both workers
                latencies = client(api_port, bodies, seconds, f"{kind}-{run}")
                approvals = latencies.get(APPROVE, [])
                explained = latencies.get(REVIEW, []) + latencies.get(DECLINE, [])
                figures = {
                    "approve_p50_ms": float(np.percentile(approvals, 50)),
                    "approve_p99_ms": float(np.percentile(approvals, 99)),
                    "approvals": len(approvals),
                    "explained": len(explained),
                }
                if explained:
                    figures["explained_p50_ms"] = float(np.percentile(explained, 50))
                    figures["explained_p99_ms"] = float(np.percentile(explained, 99))
                measured[kind].append(figures)
                print(f"{kind} rules, run {run + 1}: {figures}", file=sys.stderr)
        events = read_card_events(emulator.url, 3_000)
    finally:
        if api is not None:
            stop(api)
        stop(model_server)
        redis_server.stop()
        emulator.stop()
    deltas = [
        w["approve_p50_ms"] - o["approve_p50_ms"]
        for w, o in zip(measured["with"], measured["without"], strict=True)
    ]
    return {
        "runs": measured,
        "approve_p50_with_minus_without_ms": {
            "median": statistics.median(deltas),
            "min": min(deltas),
            "max": max(deltas),
        },
    }, events


def read_card_events(url: str, limit: int) -> list[ScoredEvent]:
    import boto3

    client_ = boto3.client(
        "kinesis", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip
    events: list[ScoredEvent] = []
    for shard in client_.list_shards(StreamName=DEFAULT_STREAM_NAME)["Shards"]:
        iterator = client_.get_shard_iterator(
            StreamName=DEFAULT_STREAM_NAME,
            ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        while iterator and len(events) < limit:
            page = client_.get_records(ShardIterator=iterator, Limit=1_000)
            for record in page["Records"]:
                event = ScoredEvent.model_validate_json(record["Data"])
                if event.card is not None:
                    events.append(event)
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return events[:limit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    seconds, runs = (3.0, 2) if args.quick else (args.seconds, args.runs)
    work = Path(tempfile.mkdtemp(prefix="fraudit-bench-rules-"))
    model_dir = work / "models"
    settings = Settings(_env_file=None, model_dir=model_dir)
    run_training(
        settings, data_path=DEV_CSV if DEV_CSV.is_file() else None, progress=lambda m: None
    )
    card_model_from_scratch(work / "cards", settings, 40_000, say=lambda m: None)
    history = work / "cards" / "replay.parquet"
    simulate_history(history, 60_000 if args.quick else 150_000, seed=8, say=lambda m: None)
    cards = CardReplaySource(load_card_history(history, 20_000), "bench")
    bodies = [cards.payload(i).replace(f"card-42-{i}".encode(), TXID) for i in range(cards.n_rows)]
    http_results, events = over_http(work, model_dir, bodies, seconds, runs)
    results: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds_per_run": seconds,
        "http": http_results,
        "in_process": in_process(events, model_dir, args.quick),
    }
    path = write_results("rules", results, args.quick)
    print(json.dumps(results["in_process"], indent=2))
    print(json.dumps(http_results["approve_p50_with_minus_without_ms"]))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
