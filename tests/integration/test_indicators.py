"""Windowed risk indicators on the real PostgreSQL, fed through the real Spark transform."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources

import psycopg
import pytest

from fraudit.api.plan import encode_event
from fraudit.stream.batch import process_batch
from fraudit.stream.indicators import parse_rules
from fraudit.stream.load import PostgresSink
from tests.support.stream_records import BASE, event, raw_frame, record

pytestmark = pytest.mark.integration

DEFAULT_RULES_TEXT = resources.files("fraudit.stream").joinpath("rules.toml").read_text()
T0 = BASE.replace(minute=0)  # 17:00, a boundary of every default window


def tx(n: int, seconds: float, *, user: str, ip: str, device: str, amount: float = 20.0):
    """One scored event at T0 + seconds, as the API publishes it."""
    when = T0 + timedelta(seconds=seconds)
    e = event(
        n,
        event_id=f"tx-{n}",
        timestamp=when,
        scored_at=when + timedelta(seconds=1),
        user_id=user,
        ip_address=ip,
        amount=amount,
        device_info={"device_id": device, "device_type": "mobile"},
    )
    data, _ = encode_event(e)
    return record(data, n)


def normal_traffic(start: int = 0, count: int = 240):
    """Two hours of ordinary activity: 40 cards, each on its own device and IP, a purchase
    of a few tens every 30 s somewhere in the portfolio."""
    return [
        tx(
            start + i,
            30.0 * i,
            user=f"u_{i % 40}",
            ip=f"198.51.100.{i % 40}",
            device=f"d_{i % 40}",
            amount=15.0 + (i % 7) * 9,
        )
        for i in range(count)
    ]


def alerts(url):
    with psycopg.connect(url) as conn:
        return {
            (r[0], r[1]): r[2:]
            for r in conn.execute(
                "SELECT rule, entity, entity_type, window_start, window_end, value, threshold,"
                " updated_at FROM fraud_alerts"
            )
        }


def test_normal_traffic_raises_nothing(spark, database):
    sink = PostgresSink(database)
    result = process_batch(raw_frame(spark, normal_traffic()), 0, sink)
    assert result.inserted == 240
    assert (result.alerts_raised, alerts(database)) == (0, {})
    sink.close()


def burst(start: int, at: float):
    """A compromised card (u_burst) spends 12 x 250 within 4 minutes from a device farm,
    and six other cards pay through the ring's proxy IP on the same emulator."""
    rows = [
        tx(
            start + k,
            at + 20.0 * k,
            user="u_burst",
            ip="203.0.113.66",
            device="d_farm",
            amount=250.0,
        )
        for k in range(12)
    ]
    rows += [
        tx(
            start + 12 + k,
            at + 7.0 * k,
            user=f"u_ring_{k}",
            ip="203.0.113.66",
            device="d_farm",
            amount=9.99,
        )
        for k in range(6)
    ]
    return rows


def test_a_crafted_burst_fires_every_rule_with_exact_values(spark, database):
    sink = PostgresSink(database)
    process_batch(raw_frame(spark, normal_traffic()), 0, sink)  # 17:00 to 19:00
    result = process_batch(raw_frame(spark, burst(1000, at=7260.0)), 1, sink)  # from 19:01
    assert result.alerts_raised == 4
    found = alerts(database)
    assert set(found) == {
        ("user_amount_5m", "u_burst"),
        ("user_count_15m", "u_burst"),
        ("ip_shared_users_10m", "203.0.113.66"),
        ("device_shared_users_10m", "d_farm"),
    }
    w0 = T0 + timedelta(hours=2)
    kind, start, end, value, threshold, _ = found[("user_amount_5m", "u_burst")]
    # 19:01:00 + 20 s * k: twelve rows, all in the tumbling window [19:00, 19:05)
    assert (kind, start, end, value, threshold) == (
        "user",
        w0,
        w0 + timedelta(minutes=5),
        3000.0,
        2000.0,
    )
    assert found[("user_count_15m", "u_burst")][1:4] == (w0, w0 + timedelta(minutes=15), 12)
    assert found[("ip_shared_users_10m", "203.0.113.66")][0] == "ip"
    assert found[("ip_shared_users_10m", "203.0.113.66")][3] == 7  # u_burst + six ring cards
    assert found[("device_shared_users_10m", "d_farm")][0:4] == (
        "device",
        w0,
        w0 + timedelta(minutes=10),
        7,
    )

    again = process_batch(raw_frame(spark, burst(1000, at=7260.0)), 1, sink)  # replayed batch
    assert (again.inserted, again.alerts_raised, again.alerts_updated) == (0, 0, 0)
    assert alerts(database) == found  # not even updated_at moved
    sink.close()


def test_a_window_split_across_batches_is_measured_whole(spark, database):
    sink = PostgresSink(database)
    rows = [
        tx(k, 60.0 + 20.0 * k, user="u_split", ip="192.0.2.1", device="d_1", amount=300.0)
        for k in range(8)
    ]
    first = process_batch(raw_frame(spark, rows[:5]), 0, sink)  # 1,500: under the limit
    assert (first.alerts_raised, alerts(database)) == (0, {})
    second = process_batch(raw_frame(spark, rows[5:]), 1, sink)  # now 2,400
    assert second.alerts_raised == 1
    assert alerts(database)[("user_amount_5m", "u_split")][3] == 2400.0
    grown = process_batch(
        raw_frame(
            spark, [tx(50, 250.0, user="u_split", ip="192.0.2.1", device="d_1", amount=100.0)]
        ),
        2,
        sink,
    )
    assert (grown.alerts_raised, grown.alerts_updated) == (0, 1)
    assert alerts(database)[("user_amount_5m", "u_split")][3] == 2500.0
    sink.close()


def test_editing_a_threshold_changes_which_alerts_fire(spark, database):
    strict = parse_rules(DEFAULT_RULES_TEXT.replace("threshold = 2000", "threshold = 5000"))
    lenient = parse_rules(DEFAULT_RULES_TEXT.replace("threshold = 2000", "threshold = 1000"))
    sink = PostgresSink(database, rules=strict)
    process_batch(raw_frame(spark, burst(1000, at=60.0)), 0, sink)
    assert ("user_amount_5m", "u_burst") not in alerts(database)  # 3,000 <= 5,000
    sink.close()
    sink = PostgresSink(database, rules=lenient)
    # a new card spending 1,200 in 5 minutes: under the shipped 2,000, over the edited 1,000
    rows = [
        tx(2000 + k, 600.0 + 30.0 * k, user="u_edit", ip="192.0.2.9", device="d_9", amount=400.0)
        for k in range(3)
    ]
    process_batch(raw_frame(spark, rows), 1, sink)
    found = alerts(database)
    assert found[("user_amount_5m", "u_edit")][3:5] == (1200.0, 1000.0)
    sink.close()


def test_late_rows_are_stored_but_closed_windows_stay_closed(spark, database):
    sink = PostgresSink(database)
    process_batch(raw_frame(spark, normal_traffic()), 0, sink)  # event time up to 19:00
    late = process_batch(raw_frame(spark, burst(1000, at=60.0)), 1, sink)  # 17:01: long closed
    assert (late.inserted, late.late_rows, late.alerts_raised) == (18, 18, 0)
    assert alerts(database) == {}
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM fraud_predictions").fetchone()[0] == 258
    sink.close()


def test_a_client_clock_in_the_future_does_not_close_the_windows(spark, database):
    sink = PostgresSink(database)
    future = T0 + timedelta(days=2)
    e = event(
        1, event_id="tx-future", timestamp=future, scored_at=T0, device_info={"device_id": "d_x"}
    )
    process_batch(raw_frame(spark, [record(encode_event(e)[0], 999)]), 0, sink)
    result = process_batch(raw_frame(spark, burst(1000, at=60.0)), 1, sink)
    assert (result.late_rows, result.alerts_raised) == (0, 4)
    sink.close()


def test_hopping_windows_catch_a_burst_across_a_boundary(spark, database):
    # 8 x 300 from 17:03:30 to 17:05:50: split 3 / 5 by the 17:05 boundary of tumbling windows.
    rows = [
        tx(k, 210.0 + 20.0 * k, user="u_edge", ip="192.0.2.7", device="d_7", amount=300.0)
        for k in range(8)
    ]
    tumbling = PostgresSink(database)
    assert process_batch(raw_frame(spark, rows), 0, tumbling).alerts_raised == 0
    tumbling.close()
    hopping = parse_rules(
        DEFAULT_RULES_TEXT.replace(
            'window = "5 minutes"', 'window = "5 minutes"\nslide = "1 minute"'
        )
    )
    with psycopg.connect(database) as conn:
        conn.execute(
            "TRUNCATE fraud_predictions, fraud_minute_rollups, fraud_alerts,"
            " fraud_stream_watermarks"
        )
    sink = PostgresSink(database, rules=hopping)
    assert process_batch(raw_frame(spark, rows), 0, sink).alerts_raised == 3
    with psycopg.connect(database) as conn:
        windows = conn.execute(
            "SELECT window_start, value FROM fraud_alerts WHERE rule ="
            " 'user_amount_5m' AND entity = 'u_edge' ORDER BY 1"
        ).fetchall()
    # [17:01, 17:06), [17:02, 17:07) and [17:03, 17:08) hold all eight; 17:00 and 17:04 don't
    assert windows == [(T0 + timedelta(minutes=m), 2400.0) for m in (1, 2, 3)]
    sink.close()
