"""The semantics of every feature family (docs/FEATURES.md) on hand-built histories, through
the reference implementation: window edges, ties, late arrivals, the transaction itself,
missing values."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudit.features.definitions import (
    CATEGORIES,
    DAY,
    FEATURE_NAMES,
    FEATURES,
    HOUR,
    MAX_WINDOW_SECONDS,
    MINUTE,
    Aggregate,
    Entity,
    Field,
    WindowAggregate,
    feature_set_version,
)
from fraudit.features.history import CardTransaction, haversine_km
from fraudit.features.reference import compute, finite_or_missing
from fraudit.validity import MAX_AMOUNT, MIN_POSITIVE_AMOUNT

pytestmark = pytest.mark.unit

T0 = datetime(2024, 3, 4, 22, 30, tzinfo=UTC).timestamp()  # a Monday, 22:30 UTC
PARIS, LYON = (48.8566, 2.3522), (45.7640, 4.8357)


def tx(
    name: str,
    at: float,
    arrival: int,
    amount: float = 10.0,
    *,
    card: str = "card_a",
    merchant: str = "m1",
    category: str = "grocery_pos",
    place: tuple[float, float] = PARIS,
    device: str | None = None,
    ip: str | None = None,
) -> CardTransaction:
    return CardTransaction(
        transaction_id=name,
        card=card,
        event_time=T0 + at,
        arrival=arrival,
        amount=amount,
        merchant=merchant,
        category=category,
        merchant_lat=place[0],
        merchant_lon=place[1],
        home_lat=PARIS[0],
        home_lon=PARIS[1],
        city_pop=2_000_000,
        birth_date=date(1984, 3, 4),
        device=device,
        ip=ip,
    )


def test_the_window_is_open_at_its_far_edge_and_closed_at_t():
    history = [
        tx("edge", -HOUR, 0, 1.0),  # exactly one hour before: out of the 1 h window
        tx("inside", -HOUR + 1, 1, 2.0),
        tx("tie", 0, 2, 4.0),  # same event time, received earlier: in
        tx("T", 0, 3, 100.0),
    ]
    f = compute(history)["T"]
    assert f["card_count_1h"] == 2
    assert f["card_amount_sum_1h"] == 6.0
    assert f["card_count_24h"] == 3
    assert f["card_amount_sum_24h"] == 7.0


def test_only_transactions_received_before_count():
    history = [
        tx("T", 0, 1, 100.0),
        # Dated before T but received after it (a late arrival): not in T's history...
        tx("late", -MINUTE, 2, 5.0),
    ]
    features = compute(history)
    assert features["T"]["card_count_24h"] == 0
    # ...while T, received earlier and dated after it, is not in its history either.
    assert features["late"]["card_count_24h"] == 0
    assert features["late"]["card_seconds_since_previous"] is None


def test_the_transaction_itself_is_never_counted():
    f = compute([tx("T", 0, 0, 50.0)])["T"]
    assert f["card_count_10m"] == 0
    assert f["card_amount_sum_30d"] == 0.0
    assert f["card_amount_mean_30d"] is None  # mean and max of nothing are missing
    assert f["card_amount_max_30d"] is None
    assert f["card_amount_to_mean_30d"] is None
    assert f["card_new_merchant_30d"] == 1.0


def test_count_sum_mean_max_per_window():
    history = [
        tx("a", -29 * DAY, 0, 30.0),
        tx("b", -6 * DAY, 1, 20.0),
        tx("c", -2 * HOUR, 2, 70.0),
        tx("d", -5 * MINUTE, 3, 1.0),
        tx("T", 0, 4, 8.0),
    ]
    f = compute(history)["T"]
    expected = {
        "10m": [1.0],
        "1h": [1.0],
        "24h": [70.0, 1.0],
        "7d": [20.0, 70.0, 1.0],
        "30d": [30.0, 20.0, 70.0, 1.0],
    }
    for window, amounts in expected.items():
        assert f[f"card_count_{window}"] == len(amounts)
        assert f[f"card_amount_sum_{window}"] == sum(amounts)
        assert f[f"card_amount_mean_{window}"] == pytest.approx(sum(amounts) / len(amounts))
        assert f[f"card_amount_max_{window}"] == max(amounts)
    assert f["card_amount_to_mean_30d"] == pytest.approx(8.0 / (121.0 / 4))


def test_nothing_looks_back_more_than_thirty_days():
    history = [tx("old", -MAX_WINDOW_SECONDS, 0, 999.0), tx("T", 0, 1)]
    f = compute(history)["T"]
    assert f["card_count_30d"] == 0
    assert f["card_seconds_since_previous"] is None
    assert f["card_new_merchant_30d"] == 1.0
    assert max(f.window_seconds for f in FEATURES if isinstance(f, WindowAggregate)) == (
        MAX_WINDOW_SECONDS
    )


def test_other_cards_do_not_count_for_the_card_but_do_for_the_merchant():
    history = [
        tx("x", -30 * MINUTE, 0, card="card_b"),
        tx("y", -2 * HOUR, 1, card="card_c"),
        tx("z", -3 * HOUR, 2, card="card_c", merchant="m2"),
        tx("T", 0, 3),
    ]
    f = compute(history)["T"]
    assert f["card_count_24h"] == 0
    assert f["merchant_count_1h"] == 1
    assert f["merchant_count_24h"] == 2


def test_distinct_cards_per_device_and_ip():
    history = [
        tx("a", -10 * MINUTE, 0, card="card_b", device="d1", ip="203.0.113.9"),
        tx("b", -9 * MINUTE, 1, card="card_b", device="d1", ip="203.0.113.9"),  # same card
        tx("c", -2 * HOUR, 2, card="card_c", device="d1", ip="203.0.113.7"),
        tx("d", -3 * DAY, 3, card="card_d", device="d1"),
        tx("e", -MINUTE, 4, card="card_a", device="d1"),  # T's own card, earlier: counts
        tx("T", 0, 5, card="card_a", device="d1", ip="203.0.113.9"),
    ]
    f = compute(history)["T"]
    assert f["device_distinct_cards_1h"] == 2  # card_b (twice), card_a
    assert f["device_distinct_cards_24h"] == 3  # + card_c
    assert f["device_distinct_cards_7d"] == 4  # + card_d
    assert f["ip_distinct_cards_1h"] == 1
    assert f["ip_distinct_cards_24h"] == 1
    # No device, no IP: those features do not apply.
    bare = compute([tx("T", 0, 0)])["T"]
    assert bare["device_distinct_cards_1h"] is None
    assert bare["ip_distinct_cards_7d"] is None


def test_previous_transaction_time_distance_and_speed():
    history = [
        tx("far", -3 * HOUR, 0, place=PARIS),
        tx("near", -2 * HOUR, 1, place=PARIS),
        tx("T", 0, 2, place=LYON),
    ]
    f = compute(history)["T"]
    distance = haversine_km(*PARIS, *LYON)
    assert 390 < distance < 395  # Paris - Lyon, as the crow flies
    assert f["card_seconds_since_previous"] == 2 * HOUR
    assert f["card_distance_from_previous_km"] == pytest.approx(distance)
    assert f["card_speed_from_previous_kmh"] == pytest.approx(distance / 2)


def test_previous_is_the_latest_by_event_time_ties_by_arrival_and_speed_has_a_floor():
    history = [
        tx("later", -10, 0, place=LYON),  # received first, dated later
        tx("earlier", -20, 1, place=PARIS),
        tx("tie", -10, 2, place=PARIS),  # same time as "later", received after it
        tx("T", 0, 3, place=LYON),
    ]
    f = compute(history)["T"]
    assert f["card_seconds_since_previous"] == 10
    # The previous is "tie" (Paris): 390 km in 10 s is computed over 60 s, not 10.
    distance = haversine_km(*PARIS, *LYON)
    assert f["card_distance_from_previous_km"] == pytest.approx(distance)
    assert f["card_speed_from_previous_kmh"] == pytest.approx(distance / (60 / 3600))


def test_new_merchant_and_new_category():
    history = [
        tx("a", -DAY, 0, merchant="m1", category="grocery_pos"),
        tx("T1", 0, 1, merchant="m2", category="grocery_pos"),
        tx("T2", 60, 2, merchant="m1", category="travel"),
    ]
    features = compute(history)
    assert features["T1"]["card_new_merchant_30d"] == 1.0
    assert features["T1"]["card_new_category_30d"] == 0.0
    assert features["T2"]["card_new_merchant_30d"] == 0.0
    assert features["T2"]["card_new_category_30d"] == 1.0


def test_row_features():
    t = tx("T", 0, 0, 99.0, category="shopping_net", place=LYON)
    f = compute([t])["T"]
    assert f["hour"] == 22
    assert f["weekday"] == 0  # Monday
    assert f["age_years"] == pytest.approx(40.0, abs=0.01)  # born on this day in 1984
    assert f["log_amount"] == pytest.approx(math.log1p(99.0))
    assert f["distance_from_home_km"] == pytest.approx(haversine_km(*PARIS, *LYON))
    assert f["city_pop_log"] == pytest.approx(math.log1p(2_000_000))
    assert f["category"] == CATEGORIES.index("shopping_net")
    assert f["channel"] == 1  # net
    assert compute([replace(t, category="travel")])["T"]["channel"] == 0  # unspecified
    assert compute([replace(t, category="misc_pos")])["T"]["channel"] == 2


def test_every_declared_feature_is_computed_and_named_once():
    f = compute([tx("T", 0, 0)])["T"]
    assert tuple(f) == FEATURE_NAMES
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert "gender" not in " ".join(FEATURE_NAMES)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((Entity.CARD, Aggregate.SUM, Field.AMOUNT, 31 * DAY), "30 days"),
        ((Entity.CARD, Aggregate.SUM, Field.AMOUNT, 2 * HOUR), "no name"),
        ((Entity.DEVICE, Aggregate.DISTINCT, Field.AMOUNT, HOUR), "distinct"),
        ((Entity.CARD, Aggregate.COUNT, Field.AMOUNT, HOUR), "counts"),
    ],
)
def test_bad_declarations_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        WindowAggregate(*args)


def test_the_feature_set_version_follows_the_declarations():
    assert feature_set_version() == feature_set_version()
    assert feature_set_version(FEATURES[:-1]) != feature_set_version()


def test_a_history_with_two_transactions_at_one_arrival_is_refused():
    with pytest.raises(ValueError, match="arrival"):
        compute([tx("a", 0, 1), tx("b", 1, 1)])
    with pytest.raises(ValueError, match="transaction_id"):
        compute([tx("a", 0, 1), tx("a", 1, 2)])


def test_docs_features_lists_every_feature_and_the_current_version():
    from tests.conftest import REPO

    page = (REPO / "docs" / "FEATURES.md").read_text(encoding="utf-8")
    missing = [name for name in FEATURE_NAMES if f"`{name}`" not in page]
    assert missing == []
    assert f"({len(FEATURE_NAMES)}; version `{feature_set_version()}`)" in page


def test_a_value_that_is_not_finite_is_a_missing_value():
    """The rule every engine shares (the backfill's twin is tested in the integration
    layer): the model never sees an infinity or a NaN."""
    assert finite_or_missing(math.inf) is None
    assert finite_or_missing(-math.inf) is None
    assert finite_or_missing(math.nan) is None
    assert finite_or_missing(None) is None
    assert finite_or_missing(0.0) == 0.0


def test_an_all_zero_month_leaves_the_amount_ratio_missing():
    history = [tx("a", 0, 1, amount=0.0), tx("b", 60, 2, amount=0.0), tx("c", 120, 3, 5.0)]
    assert compute(history)["c"]["card_amount_to_mean_30d"] is None


# Amounts the contract accepts (fraudit.validity): 0, or one cent to 1e11, the extremes
# drawn often; event times anywhere in 40 days, with ties.
_ACCEPTED_AMOUNTS = st.sampled_from([0.0, MIN_POSITIVE_AMOUNT, MAX_AMOUNT]) | st.floats(
    min_value=MIN_POSITIVE_AMOUNT, max_value=MAX_AMOUNT
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            _ACCEPTED_AMOUNTS,
            st.integers(min_value=0, max_value=40 * 86_400) | st.just(0),
            st.sampled_from(["card_a", "card_b"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_every_vector_of_any_accepted_sequence_is_finite(rows):
    """Main: an amount of 5e-324 (or 1e-300, then 1e11) made the card's next vector infinite
    (issue 28, finding 4); the amount bounds make every feature finite by construction."""
    history = [
        tx(f"t{i}", float(at), i + 1, amount, card=card, device="d1", ip="192.0.2.1")
        for i, (amount, at, card) in enumerate(rows)
    ]
    for vector in compute(history).values():
        assert all(v is None or math.isfinite(v) for v in vector.values()), vector


CAP_3 = {Entity.CARD: 3, Entity.MERCHANT: 2, Entity.DEVICE: 2, Entity.IP: 2}


def test_only_an_entitys_cap_latest_dated_transactions_count():
    """Rule 8. On main a card's whole month counted, so one busy card (a card-testing run,
    a NAT gateway's IP) made every step read, and keep, all of it: 668 ms of server time per
    step at 300,000 members."""
    history = [tx(f"e{i}", -600 + 60 * i, i, float(i + 1)) for i in range(5)]  # at -600..-360
    f = compute([*history, tx("T", 0, 9, 50.0)], caps=CAP_3)["T"]
    # The three latest-dated: e2, e3, e4 (amounts 3, 4, 5).
    assert f["card_count_1h"] == 3
    assert f["card_amount_sum_1h"] == 12.0
    assert f["card_amount_max_1h"] == 5.0
    assert f["card_amount_mean_30d"] == 4.0
    assert f["merchant_count_24h"] == 2
    uncapped = compute([*history, tx("T", 0, 9, 50.0)])["T"]
    assert uncapped["card_count_1h"] == 5


def test_past_the_cap_later_dated_transactions_take_the_places_of_a_late_ones_history():
    """A transaction dated before its entity's latest `cap` (a late arrival) sees only what
    is left of the cap: here one place, taken by the latest-dated transaction at or before
    it, and the previous transaction and the new-merchant flag follow."""
    history = [
        tx("old", -300, 0, 1.0, merchant="m_old"),
        tx("near", -100, 1, 2.0, merchant="m_near"),
        tx("later1", 100, 2, 3.0),
        tx("later2", 200, 3, 4.0),
    ]
    late = tx("T", 0, 4, 9.0, merchant="m_old")
    f = compute([*history, late], caps=CAP_3)["T"]
    assert f["card_count_1h"] == 1
    assert f["card_amount_sum_1h"] == 2.0
    assert f["card_new_merchant_30d"] == 1.0
    assert f["card_seconds_since_previous"] == 100.0
    uncapped = compute([*history, late])["T"]
    assert uncapped["card_count_1h"] == 2
    assert uncapped["card_new_merchant_30d"] == 0.0


def test_ties_at_the_cap_go_to_the_greater_transaction_id_with_its_separator():
    """Of equal event times the store keeps `txid|` in byte order: "ab" (as "ab|") ranks
    above "ab-c" (as "ab-c|"), though "ab" < "ab-c" as text."""
    history = [tx("ab-c", -60, 0, 1.0), tx("ab", -60, 1, 2.0), tx("aa", -60, 2, 4.0)]
    caps = {**CAP_3, Entity.CARD: 1}
    f = compute([*history, tx("T", 0, 3)], caps=caps)["T"]
    assert f["card_amount_sum_1h"] == 2.0
