"""The dashboard in a real browser: Debian's chromium driven by Playwright against
`fraudit dashboard` over rows the test loaded with the real sink. Charts render and the KPI
numbers equal the test's own counts. The screenshot is kept (docs/dashboard.png is made by
this test: FRAUDIT_SCREENSHOT_TO=docs/dashboard.png)."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from fraudit.stream.batch import process_batch
from fraudit.stream.load import PostgresSink
from tests.integration.test_dashboard_app import recent_events
from tests.support.processes import fraudit_process, free_port, stop, wait_for_http
from tests.support.stream_records import raw_frame

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def _labels_and_a_backtest(url, spark, events) -> tuple[int, dict]:
    """Chargebacks for every fifth card event, reported 10 s after it; then a backtest of a
    candidate rule over the card events: (frauds reported, the run's report)."""
    import psycopg

    from fraudit.backtest.candidate import Candidate
    from fraudit.backtest.run import BacktestPlan, run_backtest
    from fraudit.labels.contract import Label
    from fraudit.labels.store import store_labels
    from fraudit.rules.document import PublishedRule, RulesetDocument
    from fraudit.scoring.policy import DecisionPolicy

    cards = [e for e in events if e.card is not None]
    frauds = [
        Label(
            event_id=e.event_id,
            label="fraud",
            source="chargeback",
            reported_at=e.timestamp + timedelta(seconds=10),
        )
        for e in cards[::5]
    ]
    now = datetime.now(UTC)
    rule = PublishedRule(
        rule_id="big_spend",
        version=1,
        family="cards",
        state="live",
        action="decline",
        expression="amount >= 100.0",
        reason="a large amount",
    )
    candidate = Candidate(
        family="cards",
        ruleset=RulesetDocument(version="rs-try", published_at=now, rules=(rule,)).to_json(),
        policy=DecisionPolicy(
            version="p-try", decline_threshold=0.9, review_threshold=0.5, model_version="m-1"
        ).to_json(),
    )
    plan = BacktestPlan(
        start=now - timedelta(days=1),
        end=now + timedelta(minutes=1),
        as_of=now + timedelta(minutes=1),
        maturity_days=0,
        review_capacity=5,
        created_by="test",
    )
    with psycopg.connect(url, autocommit=True) as conn:
        store_labels(conn, frauds, "test")
        report = run_backtest(conn, spark, candidate, plan)
    return len(frauds), report


@pytest.fixture
def dashboard(spark, database, tmp_path):
    events, records = recent_events(120)
    sink = PostgresSink(database)
    process_batch(raw_frame(spark, records), 0, sink)
    sink.close()
    labelled, report = _labels_and_a_backtest(database, spark, events)
    port = free_port()
    process = fraudit_process(
        ["dashboard", "--port", str(port)], {"DATABASE_URL": database}, tmp_path / "dashboard.log"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_stcore/health", process)
        yield url, events, labelled, report
    finally:
        stop(process)


def test_dashboard_renders_charts_and_true_numbers(dashboard, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    url, events, labelled, report = dashboard
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1500, "height": 2200})
        page.goto(url)
        page.get_by_text("Transactions", exact=True).first.wait_for(timeout=60_000)
        page.locator('[data-testid="stVegaLiteChart"]').nth(2).wait_for(timeout=60_000)

        def metric(label):
            card = page.locator('[data-testid="stMetric"]').filter(
                has=page.get_by_text(label, exact=True)
            )
            return card.locator('[data-testid="stMetricValue"]').inner_text().strip()

        decisions = Counter(e.decision for e in events)
        assert metric("Transactions") == f"{len(events):,}"
        assert metric("Declined") == f"{decisions['decline']:,}"
        assert metric("Reviewed") == f"{decisions['review']:,}"
        assert metric("Rejected records") == "0"
        page.get_by_text("Card transactions by merchant category", exact=True).wait_for()
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        # per minute, decision mix, score distribution, card transactions by category
        charts.nth(3).wait_for(timeout=60_000)
        for i in range(4):
            assert charts.nth(i).locator("canvas, svg").count() >= 1
        page.wait_for_timeout(1500)  # let the map and tables settle for the picture
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        # The rules tab: the shadow rule the card events were decided with, and its hits.
        page.get_by_role("tab", name="Rules").click()
        page.get_by_text("Rules: hits and the decisions they changed", exact=True).wait_for()
        shadow_hits = sum(1 for e in events if e.rules is not None and e.rules.shadow_fired)
        assert shadow_hits > 0
        assert metric("Shadow hits") == f"{shadow_hits:,}"
        assert metric("Live hits") == "0"
        page.screenshot(path=str(tmp_path / "rules.png"), full_page=True)
        # The labels tab: the reported frauds and their arrival curve.
        page.get_by_role("tab", name="Labels").click()
        page.get_by_text("Labels: how long frauds take to be reported", exact=True).wait_for()
        assert metric("Reported frauds") == f"{labelled:,}"
        assert metric("Labels naming no stored event") == "0"
        # The backtests tab: the run the fixture made, with its own figures.
        page.get_by_role("tab", name="Backtests").click()
        page.get_by_text("Backtests: a candidate beside what was decided", exact=True).wait_for()
        totals = report["configurations"]["candidate"]["totals"]
        assert metric("Candidate declines") == f"{totals['decline']:,}"
        assert metric("Candidate decline recall") == f"{totals['decline_recall']:.1%}"
        page.get_by_text("The candidate's rules: hits by outcome", exact=False).wait_for()
        assert report["rules"][0]["rule_id"] == "big_spend"
        page.screenshot(path=str(tmp_path / "backtests.png"), full_page=True)
        browser.close()
    assert shot.stat().st_size > 20_000
    if os.environ.get("FRAUDIT_SCREENSHOT_TO"):
        shutil.copy(shot, os.environ["FRAUDIT_SCREENSHOT_TO"])


def test_stopping_fraudit_dashboard_stops_the_server(database, tmp_path):
    """SIGTERM to `fraudit dashboard` (docker stop, systemd, terminate()) must stop the
    Streamlit server itself: it used to run as a child and outlive its parent."""
    import socket
    import time

    port = free_port()
    process = fraudit_process(
        ["dashboard", "--port", str(port)], {"DATABASE_URL": database}, tmp_path / "dashboard.log"
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", process)
    finally:
        stop(process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return  # nothing listens any more
        time.sleep(0.2)
    raise AssertionError(f"a dashboard server still listens on port {port} after SIGTERM")
