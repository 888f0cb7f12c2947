"""The dashboard app through Streamlit's AppTest, on a real PostgreSQL with rows loaded by
the real sink: the numbers shown equal counts of what was loaded; empty and unreachable
databases give clear states."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from fraudit.dashboard import queries as q
from fraudit.dashboard.store import DashboardStore
from fraudit.db.schema import apply_schema
from fraudit.stream.batch import process_batch
from fraudit.stream.load import PostgresSink
from tests.conftest import REPO
from tests.support.stream_records import card_event, event, raw_frame, record

pytestmark = pytest.mark.integration


def minute_now():
    return datetime.now(UTC).replace(second=0, microsecond=0)


def recent_events(n):
    """n events, one every 20 s back from now (40 minutes for 120: well inside "Last
    hour" whenever the page is read), as the API publishes them; every third is a card
    transaction."""
    from fraudit.api.plan import encode_event

    now = minute_now()
    events = [
        (card_event if i % 3 == 0 else event)(
            i,
            timestamp=now - timedelta(seconds=20 * i),
            scored_at=now - timedelta(seconds=20 * i - 1),
        )
        for i in range(n)
    ]
    return events, [record(encode_event(e)[0], i) for i, e in enumerate(events)]


@pytest.fixture
def loaded(spark, database):
    events, records = recent_events(90)
    sink = PostgresSink(database)
    process_batch(raw_frame(spark, records), 0, sink)
    sink.close()
    return database, events


def app(monkeypatch, url):
    from streamlit.testing.v1 import AppTest

    if url is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", url)
    at = AppTest.from_file(str(REPO / "frontend" / "app.py"), default_timeout=60)
    return at.run()


def metrics(at):
    return {m.label: m.value for m in at.metric}


def test_kpis_equal_counts_of_the_loaded_rows(monkeypatch, loaded):
    url, events = loaded
    at = app(monkeypatch, url)
    assert not at.exception
    assert not at.error
    shown = metrics(at)
    decisions = Counter(e.decision for e in events)
    assert shown["Transactions"] == f"{len(events):,}"
    assert shown["Declined"] == f"{decisions['decline']:,}"
    assert shown["Reviewed"] == f"{decisions['review']:,}"
    frauds = sum(e.fraud_prediction for e in events)
    assert shown["Predicted frauds"] == f"{frauds:,}"
    assert shown["Fraud rate"] == f"{frauds / len(events):.2%}"
    mean = sum(e.fraud_proba for e in events) / len(events)
    assert shown["Mean fraud probability"] == f"{mean:.4f}"
    assert shown["Rejected records"] == "0"

    at.sidebar.multiselect[2].set_value(["decline"]).run()  # decision filter
    assert metrics(at)["Transactions"] == f"{decisions['decline']:,}"

    def declined_since(moment):
        # Rollups count whole minutes: the minute the period starts in is included.
        first = (moment - timedelta(minutes=15)).replace(second=0, microsecond=0)
        return f"{sum(1 for e in events if e.timestamp >= first and e.decision == 'decline'):,}"

    before = datetime.now(UTC)
    at.sidebar.selectbox[0].set_value("Last 15 minutes").run()
    after = datetime.now(UTC)
    # The app's "now" lies between the two: an event may cross the edge during the run.
    assert metrics(at)["Transactions"] in {declined_since(before), declined_since(after)}


def test_every_panel_query_runs_and_agrees_with_the_rows(loaded):
    url, events = loaded
    store = DashboardStore(url)
    now = minute_now()
    f = q.Filters(start=now - timedelta(hours=2), end=now + timedelta(minutes=2))
    mix = store.frame(q.decision_mix(f)).set_index("decision")["transactions"].to_dict()
    assert mix == dict(Counter(e.decision for e in events))
    assert store.frame(q.score_distribution(f))["transactions"].sum() == len(events)
    assert store.frame(q.per_minute(f))["transactions"].sum() == len(events)
    cells = store.frame(q.activity_map(f))
    assert cells["transactions"].sum() == sum(1 for e in events if e.geo.latitude is not None)
    latest = store.frame(q.latest_events(f, limit=5))
    assert list(latest["event_id"]) == [f"ev-{i}" for i in range(5)]
    health = store.frame(q.pipeline_health()).iloc[0]
    assert health.rejected_total == 0
    assert health.last_batch_at is not None
    store.close()


def test_empty_database_says_no_data_yet(monkeypatch, database):
    at = app(monkeypatch, database)
    assert not at.exception
    assert any("No data yet" in i.value for i in at.info)
    with psycopg.connect(database) as conn:
        apply_schema(conn)
    at = app(monkeypatch, database)
    assert metrics(at)["Transactions"] == "0"
    assert not at.error


def test_unreachable_or_missing_database_is_said_plainly(monkeypatch):
    at = app(monkeypatch, "postgresql://fraudit:s3cret@127.0.0.1:9/fraudit")
    assert not at.exception
    (error,) = at.error
    assert "Database unreachable at 127.0.0.1:9/fraudit" in error.value
    assert "s3cret" not in error.value
    at = app(monkeypatch, None)
    assert "No database configured" in at.error[0].value


def test_filters_refuse_a_bad_period():
    now = minute_now()
    with pytest.raises(ValueError, match="end after"):
        q.Filters(start=now, end=now)
    with pytest.raises(ValueError, match="timezone"):
        q.Filters(start=datetime(2026, 1, 1), end=datetime(2026, 1, 2))
    week = q.Filters(start=now - timedelta(days=7), end=now)
    assert week.bucket_seconds == 3600
    assert week.by_hours
    day = q.Filters(start=now - timedelta(days=1), end=now)
    assert day.bucket_seconds == 300
    assert not day.by_hours
    assert q.default_filters(now).bucket_seconds == 60


def test_long_periods_read_hours_and_stay_exact_to_the_minute(spark, database):
    """Three days of events; periods with ragged ends, read from hourly rollups in the
    middle and minutes at the ends, give the same numbers as counting the rows."""
    from fraudit.api.plan import encode_event

    now = minute_now()
    base = now - timedelta(days=3)
    events = [
        event(
            i,
            timestamp=base + timedelta(minutes=17 * i + i % 7),
            scored_at=base + timedelta(minutes=17 * i + i % 7, seconds=1),
        )
        for i in range(250)
    ]
    sink = PostgresSink(database)
    process_batch(
        raw_frame(spark, [record(encode_event(e)[0], i) for i, e in enumerate(events)]), 0, sink
    )
    sink.close()
    store = DashboardStore(database)
    for start, end in (
        (base + timedelta(minutes=95, seconds=20), now - timedelta(hours=5, minutes=13)),
        (base - timedelta(hours=2), now + timedelta(minutes=1)),
    ):
        f = q.Filters(start=start, end=end, decisions=("approve", "decline"))
        assert f.by_hours
        first_minute = start.replace(second=0, microsecond=0)
        chosen = [
            e
            for e in events
            if first_minute <= e.timestamp.replace(second=0) < end
            and e.decision in ("approve", "decline")
        ]
        shown = store.frame(q.kpis(f)).iloc[0]
        assert shown.transactions == len(chosen)
        assert shown.predicted_frauds == sum(e.fraud_prediction for e in chosen)
        assert store.frame(q.per_minute(f))["transactions"].sum() == len(chosen)
        assert store.frame(q.score_distribution(f))["transactions"].sum() == len(chosen)
        assert store.frame(q.activity_map(f))["transactions"].sum() == len(chosen)
    store.close()


def test_the_page_makes_no_deprecated_streamlit_call(monkeypatch, loaded):
    # Streamlit reports each deprecated call it sees through this logger.
    import logging

    notices: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notices.append(record.getMessage())

    logger = logging.getLogger("streamlit.deprecation_util")
    handler = Collect(logging.WARNING)
    logger.addHandler(handler)
    try:
        at = app(monkeypatch, loaded[0])
    finally:
        logger.removeHandler(handler)
    assert not at.exception
    assert not at.error
    assert not notices, notices


def test_card_transactions_roll_up_by_merchant_category_once(spark, database):
    """The category panel's numbers equal a GROUP BY over the card rows, and a replayed
    batch adds nothing (ULB events have no category and are not counted)."""
    _, records = recent_events(60)
    sink = PostgresSink(database)
    process_batch(raw_frame(spark, records), 0, sink)
    process_batch(raw_frame(spark, records), 0, sink)  # a replay after a restart
    sink.close()
    store = DashboardStore(database)
    shown = store.frame(q.category_mix(q.default_filters(minute_now() + timedelta(minutes=1))))
    truth = store.frame(
        q.Query(
            "SELECT merchant_category, count(*) AS transactions, "
            "sum(fraud_prediction)::bigint AS predicted_frauds FROM fraud_predictions "
            "WHERE merchant_category IS NOT NULL GROUP BY 1"
        )
    )
    store.close()
    assert shown["transactions"].sum() == 20  # every third of 60

    def by_category(frame):
        return {
            row.merchant_category: (int(row.transactions), int(row.predicted_frauds))
            for row in frame.itertuples()
        }

    assert by_category(shown) == by_category(truth)


def test_reasons_and_rule_hits_equal_what_the_events_carried(spark, database):
    """The rules tab counts each rule's hits and changed decisions exactly; the reasons
    panel shows the rule and the models' reasons of each review and decline."""
    from fraudit.contracts import FeatureReason, Reasons
    from tests.support.stream_records import SHADOW_RULE

    events, _ = recent_events(90)
    reasons = Reasons(
        model=[FeatureReason(feature="card_count_1h", value=30.0, contribution=1.5, text="30 a")],
        model_bias=-4.0,
        anomaly=[FeatureReason(feature="hour", contribution=2.0, text="odd hour")],
        feature_set_version="fs-x",
    )
    events = [
        e.model_copy(update={"reasons": reasons}) if e.decision != "approve" else e for e in events
    ]
    from fraudit.api.plan import encode_event

    sink = PostgresSink(database)
    process_batch(
        raw_frame(spark, [record(encode_event(e)[0], i) for i, e in enumerate(events)]), 0, sink
    )
    sink.close()
    shadow_hits = [e for e in events if e.rules is not None and e.rules.shadow_fired]
    changed = [e for e in shadow_hits if e.rules.shadow_decision != e.decision]
    assert shadow_hits  # the fixture's shadow rule fires on some card events
    store = DashboardStore(database)
    f = q.default_filters(datetime.now(UTC), hours=2)
    hits = store.frame(q.rule_hits(f))
    (row,) = hits[hits.rule_id == SHADOW_RULE].itertuples()
    assert (row.fired_as, row.hits, row.changed_decisions) == (
        "shadow",
        len(shadow_hits),
        len(changed),
    )
    why = store.frame(q.latest_reasons(f, limit=1000))
    assert len(why) == sum(1 for e in events if e.decision != "approve")
    assert set(why.model_reasons) == {"30 a"}
    assert set(why.decided_by) == {"model"}
