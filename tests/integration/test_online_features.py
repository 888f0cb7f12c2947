"""The card path of the API with the online store on a real Redis: the vector each
transaction is scored on equals the Spark backfill's for the same transactions in the
order the store received them, whatever the concurrency; repeats are answered once."""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from fraudit.api.local_server import ApiHTTPServer, gateway_for
from fraudit.api.service import FamilyModel
from fraudit.families.cards import CARDS
from fraudit.features.definitions import FEATURE_NAMES, Entity, feature_set_version
from fraudit.validity import MAX_AMOUNT, MIN_POSITIVE_AMOUNT
from tests.support.api import JSON, kinesis_stream, make_app, read_stream
from tests.support.card_histories import START, card_payload, history_frame, random_history
from tests.support.feature_agreement import disagreements
from tests.support.redis_keys import REDIS_URL

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def card_model(trained_cards):
    from fraudit.models.cards.bundle import load_card_bundle
    from fraudit.models.cards.serving import InProcessCardScorer

    result = trained_cards[0]
    bundle = load_card_bundle(result.path.parent.parent, result.version)
    return FamilyModel(InProcessCardScorer(bundle), bundle.policy)


@pytest.fixture
def kinesis():
    with mock_aws():
        yield kinesis_stream()


def serve(app):
    server = ApiHTTPServer(("127.0.0.1", 0), gateway_for(app))
    server.route_methods = {path: set(entries) for path, entries in app.routes.items()}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/predict", data=json.dumps(body).encode(), headers=JSON, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _backfill(spark, history):
    from fraudit.features.backfill import backfill

    frame = history_frame(spark, history)
    return {row["transaction_id"]: row.asDict() for row in backfill(frame).collect()}


# `make bench` runs this test at 50,000 transactions over 1,000 cards
# (bench/bench_online_parity.py); `make test` at 5,000 over 300.
PARITY_TRANSACTIONS = int(os.environ.get("FRAUDIT_PARITY_TRANSACTIONS", "5000"))
PARITY_CARDS = int(os.environ.get("FRAUDIT_PARITY_CARDS", "300"))


def test_every_scored_vector_equals_the_backfill_in_the_stores_order(
    spark, bundle, card_model, kinesis_emulator, new_store
):
    """5,000 transactions of 300 cards (event-time ties, late arrivals, shared merchants,
    devices and IPs) posted by 8 concurrent clients, so the store's order differs from the
    history's: each event's recorded vector equals the backfill run over the same
    transactions in the store's arrival order. The events go to kinesalite: moto's
    in-process Kinesis numbers concurrent puts without a lock and lost 37 of 50,000 records
    in the bench-sized run."""
    stream = f"parity-{uuid.uuid4().hex[:8]}"
    kinesis_emulator.create_stream(stream, shards=2)
    kinesis = kinesis_emulator.client()
    history = random_history(PARITY_TRANSACTIONS, seed=7, cards=PARITY_CARDS, days=40)
    # Moved so the latest is a minute old: within the API's event-time window (raised to
    # 60 days, as for a replay).
    shift = (datetime.now(UTC) - timedelta(minutes=1)).timestamp() - (START + 41 * 86_400)
    history = [replace(tx, event_time=tx.event_time + shift) for tx in history]
    app = make_app(
        bundle,
        kinesis,
        store=new_store(),
        cards=card_model,
        stream=stream,
        max_event_age_days=60,
    )
    server, url = serve(app)
    try:
        with ThreadPoolExecutor(8) as clients:
            answers = list(clients.map(lambda tx: post(url, card_payload(tx)), history))
    finally:
        server.shutdown()
    assert [status for status, _ in answers] == [200] * len(history), answers[0]
    events = {e["event_id"]: e for e in read_stream(kinesis, stream)}
    assert len(events) == len(history)
    in_store_order = [
        replace(
            tx,
            arrival=events[tx.transaction_id]["card"]["store_arrival"],
            arrivals=events[tx.transaction_id]["card"]["store_arrivals"],
        )
        for tx in history
    ]
    # Each entity numbered its own transactions, once each.
    for entity in ("card", "merchant", "device", "ip"):
        numbered = [
            (getattr(tx, entity), tx.arrivals[entity])
            for tx in in_store_order
            if getattr(tx, entity) is not None
        ]
        assert len(set(numbered)) == len(numbered)
    # The clients did reorder the traffic: the test is not the sequential case in disguise.
    position = {tx.transaction_id: i for i, tx in enumerate(history)}
    by_merchant: dict[str, list] = {}
    for tx in in_store_order:
        by_merchant.setdefault(tx.merchant, []).append(tx)
    received = [
        [position[t.transaction_id] for t in sorted(txs, key=lambda t: t.arrivals["merchant"])]
        for txs in by_merchant.values()
    ]
    assert any(order != sorted(order) for order in received)
    expected = _backfill(spark, in_store_order)
    recorded = {tid: e["features"] for tid, e in events.items()}
    for event in events.values():
        assert event["feature_set_version"] == feature_set_version()
        assert event["schema_version"] == 2
        assert set(event["features"]) == set(FEATURE_NAMES)
    problems = disagreements(
        {
            tid: {k: v for k, v in row.items() if k in recorded[tid]}
            for tid, row in expected.items()
        },
        recorded,
    )
    assert problems == [], problems[:10]


# --- counted once, answered once ----------------------------------------------------------


@pytest.fixture(params=["one server", "cluster"])
def new_store(request):
    """Makes online stores on the machine's Redis, or on a Redis Cluster of 3 primaries
    (ElastiCache Serverless runs in cluster mode only; main's step was a CROSSSLOT error
    there, so every card request was a 503)."""
    from tests.support.api import private_store

    if request.param == "one server":
        return private_store
    cluster = request.getfixturevalue("redis_cluster")
    return lambda **options: private_store(cluster.url, cluster=True, **options)


def post_card(client, tx):
    """POST /predict with a card transaction through a Chalice test client."""
    return client.http.post("/predict", headers=JSON, body=json.dumps(card_payload(tx)))


def _recent(n: int, seed: int = 3):
    """`n` card transactions of a few cards, the latest a minute old."""
    history = random_history(n, seed=seed, cards=5, days=2, late_share=0.0)
    shift = (datetime.now(UTC) - timedelta(minutes=1)).timestamp() - (START + 2 * 86_400)
    return [replace(tx, event_time=tx.event_time + shift) for tx in history]


def _store_keys(store) -> dict[bytes, object]:
    """Every key of the store's prefix with its content: the transactions counted. Aside:
    idempotency records, fences of abandoned attempts, and the entities' arrival counters
    (each set's member `#`; sequences: a failed request leaves a gap in one, never a
    transaction); of a
    transaction record, that it exists (its owner and attempt are the live request's
    bookkeeping, which a rebuild from the rows cannot know)."""
    out: dict[bytes, object] = {}
    for key in store.client.scan_iter(match=f"{store.keys.namespace}*"):
        name = key[key.index(b"}") + 1 :]
        if name.startswith((b"idem:", b"fence:", b"f:")):
            continue
        kind = store.client.type(key)
        if kind == b"zset":
            members = store.client.zrange(key, 0, -1, withscores=True)
            out[key] = [(m, score) for m, score in members if m != b"#"]
        elif name.startswith(b"tx:"):
            out[key] = b"counted"
        else:
            out[key] = store.client.get(key)
    return out


def _registered(store) -> list[bytes]:
    """Every entry of every claim bucket's attempts register."""
    pipe = store.client.pipeline(transaction=False)
    for bucket in store.keys.buckets:
        pipe.zrange(store.keys.attempts_in(bucket), 0, -1)
    return [entry for register in pipe.execute() for entry in register]


class FailingOnce:
    """The real models, failing the first `failures` calls (an endpoint outage)."""

    def __init__(self, inner, failures: int = 1) -> None:
        self.inner, self.failures = inner, failures
        self.model_version = inner.model_version
        self.calls = 0

    def score(self, rows, deadline=None):
        from fraudit.scoring.base import ScoringUnavailable

        self.calls += 1
        if self.calls <= self.failures:
            raise ScoringUnavailable("injected", "the classifier endpoint could not be reached")
        return self.inner.score(rows, deadline)

    def explain(self, rows, deadline=None):
        return self.inner.explain(rows, deadline)

    def close(self) -> None:
        return None


def test_a_retry_after_a_200_gets_the_first_answer_and_counts_nothing_again(
    bundle, card_model, kinesis, new_store
):
    from chalice.test import Client

    store = new_store()
    txs = _recent(4)
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:
        for tx in txs[:3]:
            assert (
                client.http.post(
                    "/predict", headers=JSON, body=json.dumps(card_payload(tx))
                ).status_code
                == 200
            )
        body = json.dumps(card_payload(txs[3]))
        first = client.http.post("/predict", headers=JSON, body=body)
        state = _store_keys(store)
        again = [client.http.post("/predict", headers=JSON, body=body) for _ in range(3)]
    assert first.status_code == 200
    assert [r.status_code for r in again] == [200] * 3
    assert all(json.loads(r.body) == json.loads(first.body) for r in again)
    assert _store_keys(store) == state  # nothing counted again
    events = read_stream(kinesis)
    assert [e["event_id"] for e in events].count(txs[3].transaction_id) == 1


def test_the_store_reads_out_each_entitys_transactions(bundle, card_model, kinesis, new_store):
    """The interface's read-out (the soak holds it against the rows): every entity the
    transactions name, each with exactly their ids."""
    from chalice.test import Client

    store = new_store()
    txs = _recent(6)
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:
        for tx in txs:
            body = json.dumps(card_payload(tx))
            assert client.http.post("/predict", headers=JSON, body=body).status_code == 200
    expected: dict[tuple[Entity, str], set[str]] = {}
    for tx in txs:
        for entity, key in (
            (Entity.CARD, tx.card),
            (Entity.MERCHANT, tx.merchant),
            (Entity.DEVICE, tx.device),
            (Entity.IP, tx.ip),
        ):
            if key is not None:
                expected.setdefault((entity, key), set()).add(tx.transaction_id)
    held = {e: store.entity_transactions(*e) for e in store.entities()}
    assert {e: set(ids) for e, ids in held.items()} == expected
    assert all(len(ids) == len(set(ids)) for ids in held.values())


def test_the_same_transaction_id_with_another_body_is_a_409(bundle, card_model, kinesis, new_store):
    """Issue 16's last item. On main before the idempotency records (7dcda6f), the ULB
    request with a reused transaction_id and another body was scored again: a second 200,
    with the decision of the other body, and a second event under the same event_id."""
    from chalice.test import Client

    from tests.support.api import payload

    store = new_store()
    (tx,) = _recent(1)
    changed = card_payload(tx)
    changed["transaction"]["amount"] = tx.amount + 1
    ulb = payload(5, transaction_id="tx-ulb-1")
    ulb_changed = payload(6, transaction_id="tx-ulb-1")
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:

        def send(body):
            return client.http.post("/predict", headers=JSON, body=json.dumps(body))

        assert send(card_payload(tx)).status_code == 200
        state = _store_keys(store)
        conflict = send(changed)
        assert send(ulb).status_code == 200
        ulb_conflict = send(ulb_changed)
    assert conflict.status_code == 409
    assert json.loads(conflict.body)["error"] == "transaction_id_conflict"
    assert ulb_conflict.status_code == 409  # the ULB path has the same guarantee
    assert _store_keys(store) == state
    assert len(read_stream(kinesis)) == 2


def test_a_503_leaves_no_trace_and_the_retry_is_counted_once(
    bundle, card_model, kinesis, new_store
):
    from chalice.test import Client

    store = new_store()
    txs = _recent(3)
    flaky = FamilyModel(FailingOnce(card_model.scorer, failures=1), card_model.policy)
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:
        for tx in txs[:2]:
            client.http.post("/predict", headers=JSON, body=json.dumps(card_payload(tx)))
    before = _store_keys(store)
    body = json.dumps(card_payload(txs[2]))
    with Client(make_app(bundle, kinesis, store=store, cards=flaky)) as client:
        failed = client.http.post("/predict", headers=JSON, body=body)
        after_failure = _store_keys(store)
        record = store.client.get(store.keys.idempotency(txs[2].transaction_id))
        retried = client.http.post("/predict", headers=JSON, body=body)
    assert failed.status_code == 503
    assert after_failure == before  # no trace: not counted, no idempotency record left
    assert record is None
    assert retried.status_code == 200
    card_key = store.keys.entity(Entity.CARD, txs[2].card)
    members = [m.split(b"|")[0] for m in store.client.zrange(card_key, 0, -1)]
    assert members.count(txs[2].transaction_id.encode()) == 1
    assert [e["event_id"] for e in read_stream(kinesis)].count(txs[2].transaction_id) == 1


def test_concurrent_duplicates_are_scored_once_and_all_get_the_same_answer(
    bundle, card_model, kinesis, new_store
):
    store = new_store()
    txs = _recent(2)
    server, url = serve(make_app(bundle, kinesis, store=store, cards=card_model))
    try:
        post(url, card_payload(txs[0]))
        with ThreadPoolExecutor(8) as clients:
            answers = list(clients.map(lambda _: post(url, card_payload(txs[1])), range(16)))
    finally:
        server.shutdown()
    assert {status for status, _ in answers} == {200}
    assert len({json.dumps(body, sort_keys=True) for _, body in answers}) == 1
    card_key = store.keys.entity(Entity.CARD, txs[1].card)
    members = [m.split(b"|")[0] for m in store.client.zrange(card_key, 0, -1)]
    assert members.count(txs[1].transaction_id.encode()) == 1
    assert [e["event_id"] for e in read_stream(kinesis)].count(txs[1].transaction_id) == 1


# --- the store down or slow -------------------------------------------------------------------


def test_redis_down_or_slow_is_a_503_with_nothing_counted_or_published(
    bundle, card_model, kinesis, private_redis
):
    from chalice.test import Client

    from fraudit.online.redis_store import OnlineStore, connect

    store = OnlineStore(connect(private_redis.url, 0.3), prefix="p:")
    txs = _recent(3)
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:

        def send(tx):
            return post_card(client, tx)

        assert send(txs[0]).status_code == 200
        # Slow: the server pauses every client for longer than the store's timeout.
        admin = connect(private_redis.url, 5.0)
        admin.client_pause(2_000)
        started = time.monotonic()
        slow = send(txs[1])
        waited = time.monotonic() - started
        time.sleep(2.2)
        private_redis.stop()
        down = send(txs[2])
        private_redis.start()
    for response, tx, recorded in ((slow, txs[1], "unknown"), (down, txs[2], "no")):
        assert response.status_code == 503
        body = json.loads(response.body)
        assert body["error"] == "store_unavailable"
        assert body["event_id"] == tx.transaction_id
        # Main said "nothing was recorded" to both; the paused step ran once the pause
        # ended (finding 3): a timeout is not a failure.
        assert body["recorded"] == recorded
    assert waited < 1.5
    assert [e["event_id"] for e in read_stream(kinesis)] == [txs[0].transaction_id]


@pytest.mark.parametrize(("late", "recorded"), [("once", "no"), ("always", "unknown")])
def test_a_step_whose_answer_came_late_is_fenced_and_leaves_nothing_counted(
    late, recorded, bundle, card_model, kinesis, private_redis
):
    """Main: with Redis answering later than the client's timeout, BEGIN had run and the
    transaction stayed counted although the client got a 503 saying nothing was recorded;
    the card's next honest transaction saw it (finding 3). Now the API fences the attempt
    and undoes it: "no" once the undo is confirmed; "unknown" while it is not (every reply
    late), and even then nothing stays counted once the late steps have run."""
    from chalice.test import Client

    from fraudit.online.redis_store import OnlineStore, connect
    from fraudit.soak.slow_link import SlowLink

    now = datetime.now(UTC).timestamp()
    first, timed_out, later = (
        replace(tx, card="card-late", device=None, ip=None, event_time=now - 120 + 30 * i)
        for i, tx in enumerate(_recent(3))
    )
    with SlowLink(private_redis.port) as link:
        store = OnlineStore(connect(link.url, 0.3), prefix="p:")
        with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:

            def send(tx):
                return post_card(client, tx)

            assert send(first).status_code == 200
            before = _store_keys(store)
            if late == "once":
                link.delay_next_reply(1.0)  # BEGIN's answer; ABANDON's comes at once
            else:
                link.delay_all = 1.0
            failed = send(timed_out)
            link.delay_all = 0.0
            time.sleep(1.5)  # the late answers drain
            after = _store_keys(store)
            fences = list(store.client.scan_iter(match=f"{store.keys.namespace}*}}fence:*"))
            honest = send(later)
    body = json.loads(failed.body)
    assert failed.status_code == 503
    assert (body["error"], body["recorded"]) == ("store_unavailable", recorded)
    assert after == before  # nothing of the failed attempt stays counted
    assert len(fences) == 1
    assert honest.status_code == 200
    (event,) = [e for e in read_stream(kinesis) if e["event_id"] == later.transaction_id]
    assert event["features"]["card_count_10m"] == 1.0  # `first` only


class FailingWhenTold:
    """The real card models, failing the calls made while `fail` is set."""

    def __init__(self, inner) -> None:
        self.inner, self.fail = inner, False
        self.model_version = inner.model_version

    def score(self, rows, deadline=None):
        from fraudit.scoring.base import ScoringUnavailable

        if self.fail:
            raise ScoringUnavailable("injected", "the classifier endpoint could not be reached")
        return self.inner.score(rows, deadline)

    def explain(self, rows, deadline=None):
        return self.inner.explain(rows, deadline)

    def close(self) -> None:
        return None


_ACCEPTED_AMOUNT = st.sampled_from([0.0, MIN_POSITIVE_AMOUNT, MAX_AMOUNT]) | st.floats(
    min_value=MIN_POSITIVE_AMOUNT, max_value=MAX_AMOUNT
)
_STEP = st.tuples(
    st.integers(min_value=0, max_value=1),  # which card
    st.integers(min_value=0, max_value=120),  # minutes into the last two hours
    _ACCEPTED_AMOUNT,
    st.sampled_from(["none", "none", "model", "late"]),  # the fault on this request
)


@pytest.fixture(scope="module")
def slow_redis():
    from fraudit.local.redis_server import PrivateRedis
    from fraudit.soak.slow_link import SlowLink
    from tests.support.processes import free_port

    server = PrivateRedis(free_port())
    server.start()
    with SlowLink(server.port) as link:
        yield link
    server.stop()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(_STEP, min_size=1, max_size=6))
def test_any_accepted_sequence_gives_finite_vectors_and_a_503_recorded_no_changes_nothing(
    steps, bundle, card_model, kinesis, slow_redis
):
    """Main: an amount of 5e-324 made a card's next vector infinite and every later request
    on it a 503 (finding 4); a 503 said nothing was recorded while the step had counted
    (finding 3). For any sequence of accepted card transactions, with a model failing or
    Redis answering late on some of them: every vector scored is finite, and a 503 that
    says `recorded: no` left the store as it was."""
    from chalice.test import Client

    from fraudit.online.redis_store import OnlineStore, connect

    store = OnlineStore(connect(slow_redis.url, 0.15), prefix=f"h{uuid.uuid4().hex[:8]}:")
    scorer = FailingWhenTold(card_model.scorer)
    (template,) = _recent(1)
    start = datetime.now(UTC).timestamp() - 2 * 3_600 - 60
    sent: list[str] = []
    with Client(
        make_app(bundle, kinesis, store=store, cards=FamilyModel(scorer, card_model.policy))
    ) as client:
        for i, (card, minute, amount, fault) in enumerate(steps):
            tx = replace(
                template,
                transaction_id=f"h-{uuid.uuid4().hex[:12]}",
                card=f"card-h{card}",
                event_time=start + minute * 60 + i,
                amount=amount,
            )
            before = _store_keys(store)
            scorer.fail = fault == "model"
            if fault == "late":
                slow_redis.delay_next_reply(0.3)
            response = client.http.post("/predict", headers=JSON, body=json.dumps(card_payload(tx)))
            scorer.fail = False
            body = json.loads(response.body)
            if response.status_code == 200:
                sent.append(tx.transaction_id)
                continue
            assert response.status_code == 503, body
            assert body["recorded"] in ("no", "unknown"), body  # main: said nothing of it
            if fault == "late":
                time.sleep(0.35)  # the late answer drains; its step had run
            if body.get("recorded") == "no":
                assert _store_keys(store) == before, (fault, body)
    events = {e["event_id"]: e for e in read_stream(kinesis)}
    for event_id in sent:
        features = events[event_id]["features"]
        assert all(v is None or math.isfinite(v) for v in features.values()), features


def test_a_store_fault_fails_only_the_items_that_need_the_store(
    bundle, card_model, kinesis, private_redis
):
    """Main: [503, 503] for a ULB vector without transaction_id (which needs no store)
    beside a card transaction while Redis was down (issue 28, finding 8)."""
    from chalice.test import Client

    from fraudit.online.redis_store import OnlineStore, connect
    from tests.support.api import payload

    store = OnlineStore(connect(private_redis.url, 0.3), prefix="p:")
    ulb = payload(3)
    ulb["metadata"].pop("transaction_id")
    (tx,) = _recent(1)
    private_redis.stop()
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:
        response = client.http.post(
            "/predict/batch",
            headers=JSON,
            body=json.dumps({"transactions": [ulb, card_payload(tx)]}),
        )
    private_redis.start()
    results = json.loads(response.body)["results"]
    assert [r["status"] for r in results] == [200, 503]
    assert results[1]["error"] == "store_unavailable"
    assert results[1]["recorded"] == "no"  # refused connection: the step never ran
    assert [e["event_id"] for e in read_stream(kinesis)] == [results[0]["event_id"]]


def test_a_full_store_refuses_the_step_and_says_nothing_was_recorded(
    bundle, card_model, kinesis, private_redis
):
    """A self-managed Redis runs `noeviction` (docs/deploy.md): at maxmemory it refuses a
    step at its first write, and the client is told truly that nothing was recorded. With
    an evicting policy the store would forget history silently (finding 5)."""
    from chalice.test import Client

    from fraudit.online.redis_store import OnlineStore, connect

    admin = connect(private_redis.url, 5.0)
    store = OnlineStore(connect(private_redis.url, 2.0), prefix="p:")
    txs = _recent(2)
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:

        def send(tx):
            return post_card(client, tx)

        assert send(txs[0]).status_code == 200
        before = _store_keys(store)
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) // 2)
        full = send(txs[1])
        after = _store_keys(store)
        idem = store.client.exists(store.keys.idempotency(txs[1].transaction_id))
        admin.config_set("maxmemory", 0)
        retried = send(txs[1])
    assert full.status_code == 503
    body = json.loads(full.body)
    assert (body["error"], body["recorded"]) == ("store_unavailable", "no")
    assert after == before
    assert idem == 0  # no claim left behind: the retry is not told "in progress"
    assert retried.status_code == 200
    assert [e["event_id"] for e in read_stream(kinesis)] == [t.transaction_id for t in txs]


def test_a_transaction_id_reused_after_its_answer_expired_is_a_409(
    bundle, card_model, kinesis, new_store
):
    """Main: a transaction_id reused with another body after the idempotency TTL (while
    its transaction record lives) was answered 200, counted nowhere and dropped downstream
    as a duplicate event_id: lost without a word (finding 7). A retry of the same body is
    still the same transaction."""
    from chalice.test import Client

    store = new_store(idempotency_ttl_seconds=1)
    (tx,) = _recent(1)
    changed = card_payload(tx)
    changed["transaction"]["amount"] = tx.amount + 1
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:

        def send(body):
            return client.http.post("/predict", headers=JSON, body=json.dumps(body))

        assert send(card_payload(tx)).status_code == 200
        time.sleep(1.5)  # the answer expires; the transaction record stays
        state = _store_keys(store)
        reused = send(changed)
        after_reuse = _store_keys(store)
        retried = send(card_payload(tx))
    assert reused.status_code == 409
    assert json.loads(reused.body)["error"] == "transaction_id_reused"
    assert after_reuse == state
    assert retried.status_code == 200
    card_key = store.keys.entity(Entity.CARD, tx.card)
    members = [m.split(b"|")[0] for m in store.client.zrange(card_key, 0, -1)]
    assert members.count(tx.transaction_id.encode()) == 1


class RefusingOneRow:
    """The real ULB models behind an endpoint that refuses (ModelError) any request holding
    one poisoned row, as a real endpoint refuses a row it cannot parse."""

    def __init__(self, inner, bad_amount: float) -> None:
        self.inner, self.bad_amount = inner, bad_amount
        self.model_version = inner.model_version
        self.calls = 0

    def score(self, rows, deadline=None):
        from fraudit.scoring.base import ScoringUnavailable

        self.calls += 1
        if any(row[-1] == self.bad_amount for row in rows):
            raise ScoringUnavailable(
                "injected ModelError",
                "the classifier endpoint answered an error",
                refused_rows=True,
            )
        return self.inner.score(rows, deadline)

    def explain(self, rows, deadline=None):
        return self.inner.explain(rows, deadline)

    def close(self) -> None:
        return None


def test_one_refused_row_fails_only_its_own_item_in_a_batch(bundle, kinesis):
    """Main: every item scored in the same group got the 503 (finding 4's batch case)."""
    from chalice.test import Client

    from fraudit.models.ulb.serving import InProcessScorer
    from tests.support.api import payload, private_store

    items = [payload(i) for i in range(8)]
    bad_amount = float(items[5]["data"].split(",")[-1])
    assert [float(i["data"].split(",")[-1]) for i in items].count(bad_amount) == 1
    scorer = RefusingOneRow(InProcessScorer(bundle), bad_amount)
    app = make_app(bundle, kinesis, store=private_store(), scorer=scorer)
    with Client(app) as client:
        response = client.http.post(
            "/predict/batch", headers=JSON, body=json.dumps({"transactions": items})
        )
    statuses = [r["status"] for r in json.loads(response.body)["results"]]
    assert statuses == [200] * 5 + [503] + [200] * 2
    assert scorer.calls <= 1 + 2 * 3  # halves down to the one row: 2 log2(8) + 1 calls
    assert len(read_stream(kinesis)) == 7


def test_the_store_authenticates_per_connection_as_the_stacks_user(
    bundle, card_model, kinesis, private_redis
):
    """On AWS the API connects as an ElastiCache user with IAM authentication: a token per
    new connection, re-signed every 10 minutes, no password anywhere. Here the same path
    with an ACL user whose password is the token, the stack's own access string
    (online_store.tf) and the default user off: card requests, a repeat, a failure's
    ABANDON and a token rotation all go through, and a client without the token gets
    nothing."""
    import redis
    from chalice.test import Client

    from fraudit.online.iam_auth import REUSE_SECONDS, IamCredentials
    from fraudit.online.redis_store import OnlineStore, connect
    from tests.support.terraform import online_store_access_string

    access = online_store_access_string().split()
    tokens = [f"cache/?Action=connect&User=fraudit-api&X-Amz-Signature={c * 64}" for c in "ab"]
    admin = connect(private_redis.url, 5.0)
    admin.execute_command("ACL", "SETUSER", "admin", "on", ">admin-secret", "~*", "&*", "+@all")
    admin.execute_command("ACL", "SETUSER", "fraudit-api", "reset", f">{tokens[0]}", *access)
    admin.execute_command("ACL", "SETUSER", "default", "off")
    admin = redis.Redis.from_url(private_redis.url, username="admin", password="admin-secret")
    now, signed = [0.0], iter(tokens)
    provider = IamCredentials("fraudit-api", lambda: next(signed), clock=lambda: now[0])
    store = OnlineStore(connect(private_redis.url, 2.0, provider), prefix="fraudit:")
    txs = _recent(4)
    flaky = FamilyModel(FailingOnce(card_model.scorer, failures=1), card_model.policy)
    with Client(make_app(bundle, kinesis, store=store, cards=flaky)) as client:

        def send(tx):
            return post_card(client, tx)

        failed = send(txs[0])  # the model fails: ABANDON (by EVAL) undoes the count
        statuses = [send(tx).status_code for tx in txs[:2]] + [send(txs[1]).status_code]
        # Rotation: the server takes the new token only, the old one is revoked.
        admin.execute_command("ACL", "SETUSER", "fraudit-api", f">{tokens[1]}", f"<{tokens[0]}")
        now[0] = REUSE_SECONDS
        store.client.connection_pool.disconnect()
        statuses.append(send(txs[2]).status_code)
    assert failed.status_code == 503
    assert statuses == [200, 200, 200, 200]
    card_key = store.keys.entity(Entity.CARD, txs[0].card)
    members = [m.split(b"|")[0] for m in admin.zrange(card_key, 0, -1)]
    assert members.count(txs[0].transaction_id.encode()) == 1  # counted once, by the retry
    with pytest.raises(redis.exceptions.AuthenticationError):
        connect(private_redis.url, 2.0).ping()  # the default user is off
    with pytest.raises(redis.exceptions.NoPermissionError):
        connect(private_redis.url, 2.0, provider).get("another-deployment:key")


# --- a Redis loss, rebuilt from PostgreSQL --------------------------------------------------


def test_after_a_redis_loss_the_rebuild_restores_every_count_from_the_rows(
    spark, bundle, card_model, kinesis, private_redis, database
):
    """Score 300 card transactions, land their events in PostgreSQL with the stream's own
    batch, lose Redis (a restart of a server without persistence), run `fraudit features
    rebuild`: the store holds exactly what it held before, and a second rebuild changes
    nothing."""
    from chalice.test import Client

    from fraudit.cli import main
    from fraudit.online.redis_store import OnlineStore, connect
    from fraudit.settings import get_settings
    from fraudit.stream.batch import process_batch
    from fraudit.stream.load import PostgresSink
    from tests.support.stream_records import raw_frame, record

    prefix = "rebuild-test:"
    store = OnlineStore(connect(private_redis.url, 5.0), prefix=prefix)
    txs = _recent(300, seed=9)
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:
        for tx in txs:
            body = json.dumps(card_payload(tx))
            assert client.http.post("/predict", headers=JSON, body=body).status_code == 200
    before = _store_keys(store)
    events = read_stream(kinesis)
    records = [record(json.dumps(e), i) for i, e in enumerate(events)]
    sink = PostgresSink(database)
    process_batch(raw_frame(spark, records), 0, sink)
    sink.close()

    private_redis.restart()
    assert _store_keys(store) == {}
    env = {
        "DATABASE_URL": database,
        "FRAUDIT_REDIS_URL": private_redis.url,
        "FRAUDIT_REDIS_KEY_PREFIX": prefix,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()  # the command reads these settings
        try:
            assert main(["features", "rebuild"]) == 0
            after = _store_keys(store)
            assert main(["features", "rebuild"]) == 0  # safe to repeat
        finally:
            get_settings.cache_clear()
    assert _store_tx_ttls_are_set(store)
    assert after == before
    assert _store_keys(store) == before

    # On AWS only a function inside the VPC reaches both the cache and the database (main
    # had none: finding 6). `fraudit deploy ops features-rebuild` runs the rebuild there in
    # parts; here its loop drives the operations task's handler in process (only the
    # Lambda's transport is replaced), each part pausing after a batch of 50.
    _rebuild_through_the_operations_task(store, private_redis, database, prefix, before)

    # Traffic during a rebuild. Main: a live card transaction was scored on 0 of its card's
    # transactions and took an arrival number the rebuild then replayed (the reference
    # refused the rows: "two transactions share an arrival position"), finding 6.
    from fraudit.db.connection import connect as connect_database
    from fraudit.online.rebuild import rebuild, rows_to_rebuild
    from tests.support.api import payload

    private_redis.restart()
    live = replace(txs[-1], transaction_id="tx-live-1", event_time=txs[-1].event_time + 1)
    ulb = payload(7)
    during: list[tuple[int, dict]] = []
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:

        def send(body):
            response = client.http.post("/predict", headers=JSON, body=json.dumps(body))
            return response.status_code, json.loads(response.body)

        def traffic(read: int, counted: int) -> None:
            if not during:  # after the first batch, with most of the history still missing
                during.extend([send(card_payload(live)), send(ulb)])

        with connect_database(database) as conn:
            result = rebuild(store, rows_to_rebuild(conn, store.state_ttl_seconds), batch=50,
                             progress=traffic)  # fmt: skip
        after_rebuild = send(card_payload(live))
    (card_status, card_body), (ulb_status, _) = during
    assert (card_status, card_body["error"], card_body["recorded"]) == (
        503, "store_unavailable", "no"
    )  # fmt: skip
    assert ulb_status == 200  # the ULB path does not wait for the card history
    assert result.counted == len(txs)
    assert after_rebuild[0] == 200
    (event,) = [e for e in read_stream(kinesis) if e["event_id"] == live.transaction_id]
    # Numbered after every replayed transaction of its card (the counter came back past them).
    replayed = [
        e["card"]["store_arrivals"]["card"]
        for e in events
        if e.get("card", {}).get("card_token") == live.card
    ]
    assert event["card"]["store_arrivals"]["card"] > max(replayed)
    assert event["features"]["card_count_30d"] == float(
        sum(1 for t in txs if t.card == live.card and t.event_time > live.event_time - 30 * 86_400)
    )


def _rebuild_through_the_operations_task(store, private_redis, database, prefix, before):
    from fraudit.deploy.commands import Deployer
    from fraudit.deploy.outputs import StackOutputs
    from fraudit.ops.handler import run_task
    from fraudit.settings import Settings

    private_redis.restart()
    settings = Settings(
        _env_file=None, database_url=database, redis_url=private_redis.url, redis_key_prefix=prefix
    )
    parts: list[dict] = []
    held: list[int] = []

    class InvokeInProcess:
        def invoke(self, function: str, payload: dict) -> dict:
            parts.append(payload)
            answer = run_task({**payload, "batch": 50}, settings, lambda: True)
            held.append(
                sum(store.client.exists(store.keys.rebuilding(b)) for b in store.keys.buckets)
            )
            return answer

    lines: list[str] = []
    folder = Path(tempfile.mkdtemp())
    deployer = Deployer(
        repo=folder,
        build_dir=folder,
        infra_dir=folder,
        model_dir=folder,
        outputs=StackOutputs.model_construct(ops_function_name="fraudit-dev-ops"),
        aws=InvokeInProcess(),  # type: ignore[arg-type]
        say=lines.append,
    )
    assert deployer.ops("features-rebuild") == 0
    assert len(parts) == 7  # 6 parts of 50, and one that finds nothing left
    assert "after" not in parts[0]  # the first part starts at the beginning...
    assert parts[1]["after"] > ""  # ...the next where it paused
    # The card path held between parts (in every claim bucket), released at the end.
    assert held == [len(store.keys.buckets)] * 6 + [0]
    assert lines[-1] == "rebuilt: 300 transactions read, 300 counted again"
    assert _store_keys(store) == before


def _store_tx_ttls_are_set(store) -> bool:
    return all(
        store.client.ttl(key) > 0
        for key in store.client.scan_iter(match=f"{store.keys.namespace}*")
        if not key.endswith(b"}attempts")
    )


# --- bounded work per entity (rule 8) -----------------------------------------------------

SMALL_CAPS = {Entity.CARD: 6, Entity.MERCHANT: 5, Entity.DEVICE: 4, Entity.IP: 4}


def _step(store, tx, *, read: bool = True):
    """One BEGIN for `tx` straight on the store: its answer."""
    call = store.begin_call(tx.transaction_id, tx=tx, read=read, attempt=uuid.uuid4().hex[:12])
    (answer,) = store.begin_many([call])
    return answer


def test_past_its_cap_an_entity_is_read_as_the_reference_reads_it(new_store):
    """Rule 8 on the store, with small caps so that most steps are past them: 800
    transactions of 6 cards, a tenth late and with ties, sent in an order of their own.
    Every vector from the store equals the reference's over the store's arrival order."""
    from fraudit.features.reference import compute
    from fraudit.online.plan import vector_from_state
    from tests.support.feature_agreement import disagreements

    store = new_store(caps=SMALL_CAPS)
    history = random_history(800, seed=11, cards=6, days=3)
    order = sorted(history, key=lambda tx: (tx.arrival // 7, -tx.arrival))  # shuffled runs
    vectors, in_store_order = {}, []
    for tx in order:
        state = _step(store, tx).state
        vectors[tx.transaction_id] = vector_from_state(tx, state)
        in_store_order.append(state.numbered(tx))
    expected = compute(in_store_order, caps=SMALL_CAPS)
    assert disagreements(expected, vectors) == []
    assert max(v["card_count_30d"] for v in vectors.values()) == SMALL_CAPS[Entity.CARD]
    assert compute(in_store_order) != expected  # the caps did bind


def test_one_step_reads_at_most_the_cap_and_a_set_keeps_at_most_cap_plus_slack(new_store):
    """Finding 2, as a limit on what one step reads and returns (never a time). On main a
    step read an entity's whole window: with 2,500 transactions on one card, one device and
    one IP, the next step returned 2,500 members of each and each set held 2,500 (server
    time grew with them: 12 ms per step at 10,000 members, 668 ms at 300,000)."""
    from fraudit.features.definitions import HISTORY_CAPS
    from fraudit.online.plan import PENDING_SLACK

    store = new_store()
    base = replace(_recent(1)[0], device="dev-hot", ip="198.51.100.77")
    hot = [
        replace(base, transaction_id=f"hot-{i}", event_time=base.event_time - 2_500 + i)
        for i in range(2_500)
    ]
    chunk = 250
    for start in range(0, len(hot), chunk):
        calls = [
            store.begin_call(tx.transaction_id, tx=tx, read=False)
            for tx in hot[start : start + chunk]
        ]
        assert all(a.added for a in store.begin_many(calls))
    answer = _step(store, replace(base, transaction_id="next"))
    for entity in (Entity.CARD, Entity.DEVICE, Entity.IP):
        assert len(answer.state.members[entity]) == HISTORY_CAPS[entity]
        key = store.keys.entity(entity, str(getattr(base, entity.value)))
        held = store.entity_transactions(entity, str(getattr(base, entity.value)))
        assert len(held) == HISTORY_CAPS[entity] + PENDING_SLACK
        assert store.client.zcard(key) == len(held) + 1  # and the arrival counter
    # The members read are the latest-dated: the first is the last one sent.
    assert answer.state.members[Entity.CARD][0][0].startswith("hot-2499|")


def test_on_a_cluster_a_card_request_makes_only_its_own_round_trips(redis_cluster):
    """redis-py 8's cluster pipeline asked the server for a script's keys (COMMAND GETKEYS)
    before sending each script: one more round trip per card request on a cluster, which
    the API's own command counts did not show. Told each step's node, it asks nothing. And
    the store spreads over the cluster: on main every key was in one slot, so one shard
    held the whole store; now every primary holds some of it."""
    from fraudit.online.redis_store import connect
    from tests.support.api import private_store

    nodes = [connect(node.url, 2.0) for node in redis_cluster.nodes]

    def asked() -> int:
        return sum(
            int(n.info("commandstats").get("cmdstat_command|getkeys", {}).get("calls", 0))
            for n in nodes
        )

    store = private_store(redis_cluster.url, cluster=True)
    before = asked()
    for tx in _recent(20, seed=5):
        call = store.begin_call(
            tx.transaction_id, pending="P", tx=tx, attempt=uuid.uuid4().hex[:12]
        )
        (answer,) = store.begin_many([call])
        assert answer.added
        store.finish_many([(tx.transaction_id, "D")])
    assert asked() == before
    held = [sum(1 for _ in n.scan_iter(match=f"{store.keys.namespace}*")) for n in nodes]
    assert all(count > 0 for count in held), held


# --- requests that died unanswered (the reaper) ---------------------------------------------


def _die_after_counting(store, tx, *, claim_expired: bool = True):
    """What a card request leaves when its process dies after BEGIN (a `kill -9`, a Lambda
    timeout): its count and its register entry, no FINISH, no ABANDON; and its claim
    until that expires (CLAIM_TTL_SECONDS, long before any reaper judges the attempt)."""
    from fraudit.online import idempotency

    attempt = uuid.uuid4().hex[:12]
    digest = idempotency.body_hash(card_payload(tx))
    call = store.begin_call(
        tx.transaction_id,
        pending=idempotency.pending(digest, attempt),
        tx=tx,
        owner=digest,
        attempt=attempt,
    )
    (answer,) = store.begin_many([call])
    assert answer.added
    if claim_expired:
        store.client.delete(store.keys.idempotency(tx.transaction_id))
    return call


def _card_ids(store, tx) -> list[str]:
    return store.entity_transactions(Entity.CARD, tx.card)


def test_the_reaper_undoes_what_a_request_that_died_counted_unless_it_was_answered(
    bundle, card_model, kinesis, new_store
):
    """A request whose process dies after counting its transaction (finding 3: on main the
    member stayed for the card's 37 days, and the next honest transaction on the card saw
    `card_count_10m = 1`). Every counting BEGIN registers its attempt until FINISH or
    ABANDON; the reaper judges what is left: undone when nobody was answered; kept when the
    event is on record, when a retry was answered, and while a retry holds the claim."""
    from chalice.test import Client

    from fraudit.online.reaper import reap

    store = new_store()
    txs = _recent(6, seed=21)
    card = txs[0].card
    txs = [replace(tx, card=card) for tx in txs]
    answered, dead, on_record, retried, retrying, after = txs
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:
        assert post_card(client, answered).status_code == 200
        assert _registered(store) == []  # FINISH closed its attempt

        for tx in (dead, on_record, retried):
            _die_after_counting(store, tx)
        _die_after_counting(store, retrying, claim_expired=False)  # as if a retry held it
        assert len(_registered(store)) == 4
        # A retry of `retried` after its dead attempt's claim expired: answered 200 from the
        # count the dead attempt left (not counted again).
        assert post_card(client, retried).status_code == 200

        far_future = int((time.time() + 3_600) * 1_000)
        result = reap(store, lambda ids: {on_record.transaction_id} & set(ids), far_future)
        assert result.outcomes == {"on record": 1, "answered": 1, "undone": 1, "claimed": 1}
        held = set(_card_ids(store, answered))
        assert dead.transaction_id not in held
        assert {answered.transaction_id, on_record.transaction_id} <= held
        assert {retried.transaction_id, retrying.transaction_id} <= held
        assert not store.client.exists(store.keys.transaction(dead.transaction_id))
        # Only the attempt whose retry holds the claim is still registered, judged later.
        (left,) = _registered(store)
        assert left.decode().startswith(retrying.transaction_id + "\n")

        store.client.delete(store.keys.idempotency(retrying.transaction_id))  # claim expired
        again = reap(store, lambda ids: set(), far_future)
        assert again.outcomes == {"undone": 1}
        assert _registered(store) == []

        response = post_card(client, replace(after, event_time=dead.event_time + 1))
    assert response.status_code == 200
    features = read_stream(kinesis)[-1]["features"]
    month = [t for t in (answered, on_record, retried) if t.event_time <= dead.event_time + 1]
    assert features["card_count_30d"] == float(len(month))


def test_an_api_process_killed_mid_request_leaves_a_count_the_reaper_undoes(serving_root, tmp_path):
    """Finding 3 as a process sees it: `fraudit api` is killed with SIGKILL while a card
    request waits for its model, after BEGIN counted it. No ABANDON can run; on main the
    member stayed for the card's 37 days. The attempt is on the register, and the reaper,
    finding no event for it, undoes the count."""
    import psutil

    from fraudit.online.reaper import reap
    from fraudit.online.redis_store import OnlineStore, connect
    from fraudit.settings import Settings
    from tests.support.processes import (
        FaultModelServer,
        fraudit_process,
        free_port,
        stop,
        wait_for_http,
    )
    from tests.support.redis_keys import own_prefix

    card_endpoint = Settings(_env_file=None).family(CARDS).classifier_endpoint
    (tx,) = _recent(1, seed=24)
    with FaultModelServer({card_endpoint: {"hang": 60}}) as models, own_prefix() as prefix:
        store = OnlineStore(connect(REDIS_URL, 2.0), prefix=prefix)
        port = free_port()
        env = {
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": models.url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "FRAUDIT_MODEL_DIR": str(serving_root),
            "FRAUDIT_REDIS_KEY_PREFIX": prefix,
        }
        api = fraudit_process(["api", "--port", str(port), "--workers", "1"], env, tmp_path / "log")
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health", api)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/predict",
                data=json.dumps(card_payload(tx)).encode(),
                headers=JSON,
            )
            pool = ThreadPoolExecutor(1)
            posted = pool.submit(_answer_status, request)
            deadline = time.monotonic() + 30
            register = store.keys.attempts(tx.transaction_id)
            while store.client.zcard(register) == 0:  # the claim has registered it
                assert time.monotonic() < deadline, (tmp_path / "log").read_text()
                time.sleep(0.01)
            for process in [*psutil.Process(api.pid).children(recursive=True), api]:
                process.kill()
            api.wait(timeout=10)
            assert posted.result(timeout=30) is None  # the connection died with the process
            pool.shutdown()
        finally:
            stop(api)
        assert _card_ids(store, tx) == [tx.transaction_id]  # what main kept for 37 days

        far_future = int((time.time() + 3_600) * 1_000)
        # While the dead request's claim lives, a retry could be answered from its count.
        assert reap(store, lambda ids: set(), far_future).outcomes == {"claimed": 1}
        store.client.pexpire(store.keys.idempotency(tx.transaction_id), 1)  # 30 s later
        time.sleep(0.01)
        result = reap(store, lambda ids: set(), far_future)  # no event was ever loaded
    assert result.outcomes == {"undone": 1}
    assert _card_ids(store, tx) == []
    assert _registered(store) == []


def _answer_status(request: urllib.request.Request) -> int | None:
    """The HTTP status of the request's answer; None when none came."""
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


def test_abandon_and_a_replay_leave_nothing_on_the_register(new_store):
    """ABANDON takes its attempt off the register with its count; the rebuild's replay
    (no attempt) never registers."""
    from fraudit.online.store import Abandon

    store = new_store()
    tx, replayed = _recent(2, seed=22)
    call = _die_after_counting(store, tx)
    store.abandon_many([Abandon(call, None, counted=True)])
    assert _registered(store) == []
    assert _card_ids(store, tx) == []
    replay = store.begin_call(
        replayed.transaction_id, tx=replayed, read=False, arrivals=dict.fromkeys(Entity, 7)
    )
    (answer,) = store.begin_many([replay])
    assert answer.added
    assert _registered(store) == []


def test_fraudit_features_reap_judges_attempts_against_the_databases_events(
    spark, bundle, card_model, kinesis, database
):
    """`fraudit features reap`: an attempt is judged once the stream job has loaded events
    scored `claim + grace` after it began; then a transaction whose event is in
    PostgreSQL keeps its count (it was answered; only FINISH failed), one whose event is
    not loses it."""
    from chalice.test import Client

    from fraudit.cli import main
    from fraudit.online.store import StoreUnavailable
    from fraudit.ops.handler import run_task
    from fraudit.settings import Settings, get_settings
    from fraudit.stream.batch import process_batch
    from fraudit.stream.load import PostgresSink
    from tests.support.api import private_store
    from tests.support.stream_records import raw_frame, record

    store = private_store()

    class FinishFails(type(store)):  # fault injection: Redis fails FINISH after the answer
        def finish_many(self, records, answered=()):
            raise StoreUnavailable("injected")

    unfinished = FinishFails(store.client, prefix=store.keys.prefix)
    first, published, dead = _recent(3, seed=23)
    with Client(make_app(bundle, kinesis, store=store, cards=card_model)) as client:
        assert post_card(client, first).status_code == 200
    with Client(make_app(bundle, kinesis, store=unfinished, cards=card_model)) as client:
        assert post_card(client, published).status_code == 200
    _die_after_counting(store, dead)
    events = read_stream(kinesis)
    sink = PostgresSink(database)
    process_batch(
        raw_frame(spark, [record(json.dumps(e), i) for i, e in enumerate(events)]), 0, sink
    )
    sink.close()

    env = {
        "DATABASE_URL": database,
        "FRAUDIT_REDIS_URL": REDIS_URL,
        "FRAUDIT_REDIS_KEY_PREFIX": store.keys.prefix,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        try:
            assert main(["features", "reap"]) == 0  # too recent: nothing judged yet
            assert len(_registered(store)) == 2
            # As if both attempts began ten minutes before the newest loaded event.
            ten_minutes_ago = int((time.time() - 600) * 1_000)
            for tx in (published, dead):
                register = store.keys.attempts(tx.transaction_id)
                for entry in store.client.zrange(register, 0, -1):
                    store.client.zadd(register, {entry: ten_minutes_ago}, xx=True)
        finally:
            get_settings.cache_clear()
    # On AWS the operations task runs it on a schedule (its handler, in process here).
    settings = Settings(
        _env_file=None,
        database_url=database,
        redis_url=REDIS_URL,
        redis_key_prefix=store.keys.prefix,
    )
    answer = run_task({"task": "features-reap"}, settings, lambda: False)
    assert {k: v for k, v in answer.items() if k != "judged_before_ms"} == {
        "task": "features-reap",
        "on record": 1,
        "undone": 1,
    }
    assert _registered(store) == []
    held = _card_ids(store, published) + _card_ids(store, dead)
    assert published.transaction_id in held
    assert dead.transaction_id not in held
