"""The dashboard in a real browser: Debian's chromium driven by Playwright against
`fraudit dashboard` over rows the test loaded with the real sink. Charts render and the KPI
numbers equal the test's own counts. The screenshot is kept (docs/dashboard.png is made by
this test: FRAUDIT_SCREENSHOT_TO=docs/dashboard.png)."""

from __future__ import annotations

import os
import shutil
from collections import Counter

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


@pytest.fixture
def dashboard(spark, database, tmp_path):
    events, records = recent_events(120)
    sink = PostgresSink(database)
    process_batch(raw_frame(spark, records), 0, sink)
    sink.close()
    port = free_port()
    process = fraudit_process(
        ["dashboard", "--port", str(port)], {"DATABASE_URL": database}, tmp_path / "dashboard.log"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_stcore/health", process)
        yield url, events
    finally:
        stop(process)


def test_dashboard_renders_charts_and_true_numbers(dashboard, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    url, events = dashboard
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
