"""The card path of the API with the online store on a real Redis: the vector each
transaction is scored on equals the Spark backfill's for the same transactions in the
order the store received them, whatever the concurrency; repeats are answered once."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, replace
from datetime import UTC, datetime, timedelta

import pytest
from moto import mock_aws

from fraudit.api.local_server import ApiHTTPServer, gateway_for
from fraudit.api.service import CardModel
from fraudit.features.definitions import FEATURE_NAMES, feature_set_version
from tests.support.api import JSON, kinesis_stream, make_app, read_stream
from tests.support.card_histories import START, card_payload, random_history
from tests.support.feature_agreement import disagreements

pytestmark = pytest.mark.integration

HISTORY_SCHEMA = (
    "transaction_id string, card string, event_time double, arrival long, amount double, "
    "merchant string, category string, merchant_lat double, merchant_lon double, "
    "home_lat double, home_lon double, city_pop long, birth_date date, device string, "
    "ip string"
)


@pytest.fixture(scope="module")
def card_model(trained_cards):
    from fraudit.models.cards.bundle import load_card_bundle
    from fraudit.scoring.local import InProcessCardScorer

    result = trained_cards[0]
    bundle = load_card_bundle(result.path.parent.parent, result.version)
    return CardModel(InProcessCardScorer(bundle), bundle.policy)


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

    frame = spark.createDataFrame([astuple(tx) for tx in history], HISTORY_SCHEMA)
    return {row["transaction_id"]: row.asDict() for row in backfill(frame).collect()}


def test_every_scored_vector_equals_the_backfill_in_the_stores_order(
    spark, bundle, card_model, kinesis
):
    """5,000 transactions of 300 cards (event-time ties, late arrivals, shared merchants,
    devices and IPs) posted by 8 concurrent clients, so the store's order differs from the
    history's: each event's recorded vector equals the backfill run over the same
    transactions in the store's arrival order."""
    history = random_history(5_000, seed=7, days=40)
    # Moved so the latest is a minute old: within the API's event-time window (raised to
    # 60 days, as for a replay).
    shift = (datetime.now(UTC) - timedelta(minutes=1)).timestamp() - (START + 41 * 86_400)
    history = [replace(tx, event_time=tx.event_time + shift) for tx in history]
    app = make_app(bundle, kinesis, cards=card_model, max_event_age_days=60)
    server, url = serve(app)
    try:
        with ThreadPoolExecutor(8) as clients:
            answers = list(clients.map(lambda tx: post(url, card_payload(tx)), history))
    finally:
        server.shutdown()
    assert [status for status, _ in answers] == [200] * len(history), answers[0]
    events = {e["event_id"]: e for e in read_stream(kinesis)}
    assert len(events) == len(history)
    arrivals = [events[tx.transaction_id]["card"]["store_arrival"] for tx in history]
    assert len(set(arrivals)) == len(history)
    in_store_order = [
        replace(tx, arrival=arrival) for tx, arrival in zip(history, arrivals, strict=True)
    ]
    # The clients did reorder the traffic: the test is not the sequential case in disguise.
    received = [tx.arrival for _, tx in sorted(zip(arrivals, history, strict=True))]
    assert received != sorted(received)
    expected = _backfill(spark, in_store_order)
    recorded = {tid: e["features"] for tid, e in events.items()}
    for event in events.values():
        assert event["feature_set_version"] == feature_set_version()
        assert event["schema_version"] == 2
        assert set(event["features"]) == set(FEATURE_NAMES)
    problems = disagreements(
        {tid: {k: v for k, v in row.items() if k in recorded[tid]} for tid, row in expected.items()},
        recorded,
    )
    assert problems == [], problems[:10]
