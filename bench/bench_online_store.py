"""The online store's memory and step time, on a redis-server of the bench's own.

    python bench/bench_online_store.py [--cards 100000] [--per-card 40]

Counts `cards x per-card` simulated card transactions (30 days of history, merchants,
devices and IPs shared) into the store with the API's own steps, pipelined, then reports
Redis's used memory per card and per transaction, and the steps' time with reads (one
transaction at a time, as the API makes them: the claim, then the entity steps) and the
API's CPU to turn their answers into the card's vector (`vector_from_state`); then the
memory of idempotency records
(a claimed transaction_id answered 200, kept for repeats). Each transaction is counted as
a live request counts it: with its body's fingerprint and its attempt's nonce.
Results: bench/results/online_store-*.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis import Redis

from bench.common import REPO, machine
from fraudit.decisions import APPROVE
from fraudit.features.definitions import CATEGORIES, DAY
from fraudit.features.history import CardTransaction
from fraudit.local.demo import free_port
from fraudit.local.redis_server import PrivateRedis
from fraudit.online import idempotency
from fraudit.online.plan import vector_from_state
from fraudit.online.redis_store import OnlineStore, connect

START = datetime(2025, 1, 1, tzinfo=UTC).timestamp()


def transactions(cards: int, per_card: int, seed: int = 0) -> Iterator[CardTransaction]:
    rng = random.Random(seed)
    merchants = [(f"m{i}", rng.choice(CATEGORIES)) for i in range(max(100, cards // 10))]
    total = cards * per_card
    for i in range(total):
        card = rng.randrange(cards)
        merchant, category = rng.choice(merchants)
        yield CardTransaction(
            transaction_id=f"tx{i}",
            card=f"card_{card:07d}",
            event_time=START + 30 * DAY * i / total,
            arrival=i,
            amount=round(rng.lognormvariate(3.5, 1.2), 2),
            merchant=merchant,
            category=category,
            merchant_lat=rng.uniform(25, 49),
            merchant_lon=rng.uniform(-124, -67),
            home_lat=40.0,
            home_lon=-90.0,
            city_pop=10_000,
            birth_date=date(1980, 1, 1),
            device=f"dev-{card}",
            ip=f"10.{card % 250}.{(card // 250) % 250}.{rng.randrange(1, 250)}",
        )


def _idempotency_record_bytes(store: OnlineStore, client: Redis, n: int = 100_000) -> int:
    """Redis memory per kept answer: `n` done records of a card answer under UUID ids."""
    answer = {
        "schema_version": 1,
        "event_id": str(uuid.UUID(int=0)),
        "anomaly_detector": {"score": 0.012345678901234567},
        "fraud_classifier": {"pred_proba": 0.00012345678901234567, "prediction": 0},
        "decision": APPROVE,
        "model_version": "cards-20261203T000000Z",
        "policy_version": "cards-20261203T000000Z-p1",
    }
    base = int(client.info("memory")["used_memory"])
    ids = [str(uuid.UUID(int=random.getrandbits(128))) for _ in range(n)]
    for start in range(0, n, 2_000):
        records = [
            (i, idempotency.done(idempotency.body_hash({"id": i}), {**answer, "event_id": i}))
            for i in ids[start : start + 2_000]
        ]
        store.finish_many(records)
    return round((int(client.info("memory")["used_memory"]) - base) / n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--per-card", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="10,000 cards")
    args = parser.parse_args()
    if args.quick:
        args.cards = 10_000
    server = PrivateRedis(free_port())
    server.start()
    try:
        client = connect(server.url, 10.0)
        store = OnlineStore(client, prefix="bench:")
        base = int(client.info("memory")["used_memory"])
        started, batch, total = time.perf_counter(), [], args.cards * args.per_card
        for n, tx in enumerate(transactions(args.cards, args.per_card), 1):
            owner, attempt = f"{n:016x}", f"{n:012x}"  # the API's widths: 16 and 12 hex
            batch.append(
                store.begin_call(tx.transaction_id, tx=tx, read=False, owner=owner, attempt=attempt)
            )
            if len(batch) == 2_000 or n == total:
                store.begin_many(batch)
                # Answered: FINISH takes the attempts off the register, as the API's does.
                store.finish_many([], [call.undo for call in batch])
                batch = []
            if n % 200_000 == 0:
                print(f"  {n:,} / {total:,} transactions counted", flush=True)
        load_seconds = time.perf_counter() - started
        used = int(client.info("memory")["used_memory"]) - base
        # The API's steps: one transaction, with reads (the claim, then the entity steps).
        probe = list(transactions(args.cards, 1, seed=1))[:2_000]
        timings, answered = [], []
        for tx in probe:
            probed = replace(
                tx, transaction_id="probe-" + tx.transaction_id, event_time=START + 30 * DAY
            )
            call = store.begin_call(probed.transaction_id, pending="Pbench", tx=probed)
            t0 = time.perf_counter()
            (answer,) = store.begin_many([call])
            timings.append((time.perf_counter() - t0) * 1e3)
            answered.append((probed, answer.state))
        timings.sort()
        vector_timings, members = [], []
        for probed, state in answered:
            assert state is not None
            t0 = time.perf_counter()
            vector_from_state(probed, state)
            vector_timings.append((time.perf_counter() - t0) * 1e3)
            members.append(sum(len(pairs) for pairs in state.members.values()))
        vector_timings.sort()
        members.sort()
        idempotency_bytes = _idempotency_record_bytes(store, client)
        result = {
            "machine": machine(),
            "cards": args.cards,
            "transactions": total,
            "load_seconds": round(load_seconds, 1),
            "used_memory_bytes": used,
            "bytes_per_card": round(used / args.cards),
            "bytes_per_transaction": round(used / total),
            "step_ms_p50": round(timings[len(timings) // 2], 3),
            "step_ms_p99": round(timings[int(len(timings) * 0.99)], 3),
            "members_read_p50": members[len(members) // 2],
            "vector_ms_p50": round(vector_timings[len(vector_timings) // 2], 3),
            "vector_ms_p99": round(vector_timings[int(len(vector_timings) * 0.99)], 3),
            "bytes_per_idempotency_record": idempotency_bytes,
        }
    finally:
        server.stop()
    out = REPO / "bench" / "results" / f"online_store-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
