"""The live card population: its history before now, its traffic after, each request
stamped with its own simulated time and never sent before it; ids that a restart reuses.
Main's demo replayed a simulated history stamped with the send time: a handful of cards
made hundreds of transactions in minutes and 91% of card transactions went to review."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fraudit.contracts import CardPredictRequest
from fraudit.features.definitions import DAY
from fraudit.simulator.population import MAX_LEAD, build_population
from fraudit.simulator.run import SimulatorConfig, run
from fraudit.simulator.source import LiveCardSource

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def population():
    return build_population(300, seed=4, seeded_days=2, now=NOW)


def test_the_history_ends_now_and_the_traffic_starts_there(population):
    at = NOW.timestamp()
    times = population.rows.event_time.to_numpy()
    history, live = times[: population.first_live], times[population.first_live :]
    assert (history < at).all()
    assert (history >= at - 2 * DAY).all()
    assert (live >= at).all()
    assert len(live) > 0
    assert (times[1:] >= times[:-1]).all()  # sent in event-time order
    # About 3 a day per card: the history holds about 2 days of 300 cards.
    assert 0.8 * 1_800 < population.first_live < 1.2 * 1_800
    assert population.real_rate == pytest.approx(300 * 3 / DAY)


def test_each_request_is_a_valid_card_request_stamped_with_its_own_time(population):
    source = LiveCardSource(population)
    for index in (0, population.first_live, len(population.rows) - 1):
        body = source.payload(index)
        request = CardPredictRequest.model_validate_json(body)
        assert request.metadata.timestamp.timestamp() == source.due(index)
        assert request.metadata.transaction_id == population.transaction_id(index)
        assert request.metadata.geo is not None
        assert request.metadata.geo.country == "US"
        assert request.transaction.card_token == population.rows.card.iat[index]


def test_a_restart_the_same_day_reuses_every_id(population):
    later = build_population(300, seed=4, seeded_days=2, now=NOW + timedelta(hours=3))
    ours = {population.transaction_id(i) for i in range(len(population.rows))}
    theirs = {later.transaction_id(i) for i in range(len(later.rows))}
    shared = ours & theirs
    # The three hours between the two starts are in both; the same transaction, the same id.
    assert len(shared) > 100
    first = dict(zip(population.rows.transaction_id, population.rows.event_time, strict=True))
    second = dict(zip(later.rows.transaction_id, later.rows.event_time, strict=True))
    assert all(first[t] == second[t] for t in set(first) & set(second))


def test_the_live_start_can_move_to_a_minute_before_the_next_fraud():
    plain = build_population(3_000, seed=4, seeded_days=1, now=NOW)
    moved = build_population(3_000, seed=4, seeded_days=1, now=NOW, fraud_within=60)
    at = NOW.timestamp()
    upcoming = plain.rows[(plain.rows.event_time >= at) & plain.rows.is_fraud].event_time
    lead = min(max(0.0, float(upcoming.iat[0]) - 60 - at), MAX_LEAD)
    live = moved.rows.iloc[moved.first_live :]
    first_fraud = float(live[live.is_fraud].event_time.iat[0])
    assert lead < MAX_LEAD  # 3,000 cards defraud several an hour
    assert at <= first_fraud <= at + 60
    # Every transaction moved by the same amount: each card keeps its own rate.
    both = plain.rows.merge(moved.rows, on="transaction_id", suffixes=("_plain", "_moved"))
    assert len(both) > 0
    assert set(both.event_time_plain - both.event_time_moved) == {round(lead)}


def test_nothing_is_sent_before_its_time():
    received: list[tuple[float, float]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            stamp = datetime.fromisoformat(body["metadata"]["timestamp"]).timestamp()
            received.append((time.time(), stamp))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # 20,000 cards make about 0.7 requests a second: the first three are due within a few
    # seconds of a live start one second ago, most of them still ahead when the run begins.
    population = build_population(
        20_000, seed=5, seeded_days=0.01, now=datetime.now(UTC) - timedelta(seconds=1)
    )
    source = LiveCardSource(population)
    try:
        config = SimulatorConfig(
            url=f"http://127.0.0.1:{server.server_address[1]}",
            rate=0,
            concurrency=2,
            requests=3,
            start=population.first_live,
            progress=False,
        )
        summary = run(source, config)
    finally:
        server.shutdown()
    assert summary.accepted == 3
    assert all(sent >= stamp for sent, stamp in received)
    assert max(stamp for _, stamp in received) > population.now  # some had to wait
