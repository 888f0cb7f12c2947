"""The card simulator: calibrated to the real Sparkov rows within stated tolerances,
deterministic for a seed, fraud scenarios shaped as documented, card tokens only.

Tolerances (docs/SIMULATOR.md): a share estimated from n simulated rows is within four
binomial standard errors plus 5% of the real value; amounts are compared as the simulated
share below each real quantile: fraud amounts within four standard errors plus 0.01,
genuine ones within 0.035 (a card's amounts go together, so they vary more than independent
draws); the category mix, which each card's own habits also make vary more, within 10%.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fraudit.card_numbers import find_pans
from fraudit.data.card_simulation import (
    ACCOUNT_TAKEOVER,
    CARD_TESTING,
    COLUMNS,
    COMPROMISED_CARD,
    COMPROMISED_MERCHANT,
    GENUINE,
    CardSimulationConfig,
    simulate,
)
from fraudit.data.sparkov_profile import (
    QUANTILES,
    SparkovRow,
    calibration_json,
    calibration_of_sample,
    halves,
    load_calibration,
    profile,
    read_rows,
)
from fraudit.features.definitions import CATEGORIES, DAY, HOUR
from tests.conftest import REPO

pytestmark = pytest.mark.unit

SAMPLE = REPO / "dataset" / "samples" / "sparkov_test_sample.csv.gz"


@pytest.fixture(scope="module")
def year() -> pd.DataFrame:
    return simulate(CardSimulationConfig(transactions=1_000_000, seed=7))


@pytest.fixture(scope="module")
def real():
    return profile(halves(read_rows(SAMPLE))[0])


@pytest.fixture(scope="module")
def simulated(year):
    rows = [
        SparkovRow(int(t), int(t // HOUR % 24), c, a, bool(y))
        for t, c, a, y in zip(
            year.event_time.to_numpy(),
            year.category,
            year.amount.to_numpy(),
            year.is_fraud,
            strict=True,
        )
    ]
    return profile(rows, fraud_rate=None)


def close(simulated_share: float, real_share: float, n: int) -> bool:
    se = math.sqrt(max(real_share * (1 - real_share), 1e-12) / n)
    return abs(simulated_share - real_share) <= 4 * se + 0.05 * real_share


def test_the_packaged_calibration_is_the_committed_samples():
    packaged = (REPO / "src/fraudit/data/sparkov_calibration.json").read_text()
    assert packaged == calibration_json(calibration_of_sample(REPO)), (
        "run `python scripts/calibrate_card_simulator.py`"
    )


def test_the_fraud_rate_is_the_real_one(year, real):
    assert year.is_fraud.sum() == round(len(year) * load_calibration().fraud_rate)
    assert year.is_fraud.mean() == pytest.approx(real.fraud_rate, rel=1e-3)


def test_the_category_mix_is_the_real_one(simulated, real):
    for c in CATEGORIES:
        assert simulated.category_share[c] == pytest.approx(real.category_share[c], rel=0.10), c


def test_fraud_share_by_category_and_by_hour_are_the_real_ones(year, simulated, real):
    hours = year.event_time // HOUR % 24
    for c in CATEGORIES:
        n = int((year.category == c).sum())
        assert close(simulated.fraud_share_by_category[c], real.fraud_share_by_category[c], n), c
    for h in range(24):
        n = int((hours == h).sum())
        assert close(simulated.fraud_share_by_hour[h], real.fraud_share_by_hour[h], n), h


@pytest.mark.parametrize("fraud", [False, True], ids=["genuine", "fraud"])
def test_amounts_per_category_follow_the_real_quantiles(year, real, fraud):
    quantiles = real.fraud_amount_quantiles if fraud else real.genuine_amount_quantiles
    for c in CATEGORIES:
        amounts = year.amount[(year.category == c) & (year.is_fraud == fraud)].to_numpy()
        assert len(amounts) > 50, c
        for q, value in zip(QUANTILES, quantiles[c], strict=True):
            below = float((amounts <= value).mean())
            tolerance = 4 * math.sqrt(q * (1 - q) / len(amounts)) + 0.01 if fraud else 0.035
            assert abs(below - q) <= tolerance, (c, q, below)


def test_the_same_seed_gives_the_same_rows_and_another_seed_others():
    config = CardSimulationConfig(transactions=20_000, days=60, seed=3)
    first, again = simulate(config), simulate(config)
    pd.testing.assert_frame_equal(first, again)
    other = simulate(config.model_copy(update={"seed": 4}))
    assert not first.card.equals(other.card)


def test_rows_come_in_arrival_order_with_some_late(year):
    assert list(year.columns) == list(COLUMNS)
    assert (year.arrival.to_numpy() == np.arange(len(year))).all()
    assert year.transaction_id.is_unique
    late = year.event_time.cummax() - year.event_time
    assert 0.002 < float((late > 60).mean()) < 0.02  # about 1% arrive over a minute late
    span = (year.event_time.max() - year.event_time.min()) / DAY
    assert 360 < span <= 365


def test_card_tokens_only(year):
    assert year.card.str.fullmatch(r"card_[a-z2-7]{16}").all()
    text = " ".join(
        value
        for column in ("card", "merchant", "device", "ip", "transaction_id")
        for value in year[column].dropna().astype(str).unique()[:50_000].tolist()
    )
    assert find_pans(text) == []


def test_chargebacks_come_days_to_weeks_after_the_fraud(year):
    frauds = year[year.is_fraud]
    assert year.chargeback_time[~year.is_fraud].isna().all()
    delay = (frauds.chargeback_time - frauds.event_time).astype(float) / DAY
    assert delay.min() >= 1
    assert delay.max() <= 90 + 3  # at most 90 days after the episode, which lasts <= 3 days
    assert 7 <= delay.median() <= 21


def test_every_scenario_has_its_share(year):
    shares = year.scenario[year.is_fraud].value_counts(normalize=True)
    config = CardSimulationConfig()
    expected = config.scenario_shares()
    for scenario, share in expected.items():
        assert shares[scenario] == pytest.approx(share / sum(expected.values()), abs=0.002)
    assert set(year.scenario[~year.is_fraud]) == {GENUINE}


def test_compromised_cards_show_bursts_as_the_real_defrauded_cards_do(year):
    rows = year[year.scenario == COMPROMISED_CARD]
    per_card = rows.groupby("card").size()
    real_counts = load_calibration().fraud_rows_per_card
    assert per_card.mean() == pytest.approx(np.mean(real_counts), rel=0.2)
    night = rows.event_time // HOUR % 24
    assert night.isin([22, 23, 0, 1, 2, 3]).mean() > 0.7


def test_card_testing_starts_with_tiny_amounts_minutes_apart(year):
    probes = set(load_calibration().probe_categories)
    started_small = 0
    episodes = year[year.scenario == CARD_TESTING].groupby("card")
    for _, rows in episodes:
        first = rows.sort_values("event_time").head(3)
        gaps = first.event_time.diff().dropna()
        if first.category.isin(probes).all() and (first.amount < 60).all() and (gaps <= 600).all():
            started_small += 1
    assert started_small >= 0.9 * episodes.ngroups


def test_account_takeovers_come_from_devices_shared_by_many_cards_and_new_to_them(year):
    takeovers = year[year.scenario == ACCOUNT_TAKEOVER]
    assert takeovers.device.notna().all()
    assert takeovers.ip.notna().all()
    assert takeovers.category.str.endswith("_net").all()
    cards_per_device = takeovers.groupby("device").card.nunique()
    assert cards_per_device.max() >= 3
    genuine_pairs = set(zip(year.card[~year.is_fraud], year.device[~year.is_fraud], strict=True))
    assert not any(
        pair in genuine_pairs for pair in zip(takeovers.card, takeovers.device, strict=True)
    )


def test_a_compromised_merchant_had_its_victims_as_customers_before_their_fraud(year):
    victims = year[year.scenario == COMPROMISED_MERCHANT].groupby("card").event_time.min()
    genuine = year[~year.is_fraud & year.card.isin(victims.index)]
    before = genuine[genuine.event_time < genuine.card.map(victims)]
    # Some merchant was used by several victims before their frauds began.
    assert before.groupby("merchant").card.nunique().max() >= 3


def test_homes_and_places_are_plausible(year):
    home_to_merchant = np.hypot(
        year.merchant_lat - year.home_lat, year.merchant_lon - year.home_lon
    )
    local = year[~year.is_fraud & ~year.category.str.endswith("_net")]
    assert (home_to_merchant[local.index] < 2.5).all()  # a 1-degree cell around the home
    born = pd.to_datetime(year.birth_date)
    age = (pd.Timestamp("2020-07-01") - born).dt.days / 365.25
    assert age.min() > 13
    assert age.max() < 100
    assert set(year.gender) <= {"F", "M"}
    assert year.device[~year.category.str.endswith("_net") & ~year.is_fraud].isna().all()


def test_bad_configurations_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="at least one fraud scenario"):
        CardSimulationConfig(
            compromised_card_share=0,
            card_testing_share=0,
            compromised_merchant_share=0,
            account_takeover_share=0,
        )
    with pytest.raises(ValidationError, match="transactions"):
        CardSimulationConfig(transactions=10)
    with pytest.raises(ValidationError, match="Extra inputs"):
        CardSimulationConfig(rows=5)
