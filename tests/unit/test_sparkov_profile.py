"""The statistics the card simulator is calibrated to, from the real Sparkov rows: genuine
rows reweighted to the file's fraud rate, only the earlier half used."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from fraudit.data.sparkov_profile import (
    QUANTILES,
    SPARKOV_TEST_FRAUD_RATE,
    SparkovRow,
    _quantiles,
    halves,
    profile,
    read_rows,
)
from tests.conftest import REPO

pytestmark = pytest.mark.unit

SAMPLE = REPO / "dataset" / "samples" / "sparkov_test_sample.csv.gz"


def row(t: int, category: str, amount: float, fraud: bool, hour: int = 12) -> SparkovRow:
    return SparkovRow(t, hour, category, amount, fraud)


def test_genuine_rows_are_reweighted_to_the_stated_fraud_rate():
    rows = [row(1, "travel", 900.0, True, hour=23), row(2, "travel", 20.0, False)] + [
        row(3 + i, "home", 30.0, False) for i in range(3)
    ]
    p = profile(rows, fraud_rate=0.01)
    # 1 fraud, 4 genuine: w = 1 * 0.99 / (0.01 * 4) = 24.75.
    assert p.genuine_weight == pytest.approx(24.75)
    assert p.fraud_rate == pytest.approx(0.01)
    assert p.fraud_share_by_category["travel"] == pytest.approx(1 / (1 + 24.75))
    assert p.fraud_share_by_category["home"] == 0.0
    assert p.fraud_share_by_hour[23] == 1.0
    assert p.category_share["home"] == pytest.approx(3 * 24.75 / (1 + 4 * 24.75))
    assert p.fraud_amount_quantiles["travel"] == [900.0] * len(QUANTILES)


def test_quantiles_are_numpys_linear_ones():
    values = list(np.random.default_rng(2).lognormal(3, 1, 101))
    assert _quantiles(values) == pytest.approx(list(np.quantile(values, QUANTILES)))


def test_the_earlier_half_never_reaches_into_the_later():
    early, late = halves(read_rows(SAMPLE))
    assert abs(len(early) - len(late)) <= len(early) // 10
    assert max(r.unix_time for r in early) < min(r.unix_time for r in late)


def test_the_real_rows_say_what_the_simulator_must_reproduce():
    early, _ = halves(read_rows(SAMPLE))
    p = profile(early)
    assert p.fraud_rate == pytest.approx(SPARKOV_TEST_FRAUD_RATE)
    assert sum(p.category_share.values()) == pytest.approx(1.0)
    # Fraud concentrates in online shopping, groceries at the till and misc online...
    top = sorted(p.fraud_share_by_category, key=p.fraud_share_by_category.get, reverse=True)
    assert set(top[:3]) == {"shopping_net", "grocery_pos", "misc_net"}
    # ...at night...
    night = np.mean([p.fraud_share_by_hour[h] for h in (22, 23, 0, 1, 2, 3)])
    day = np.mean([p.fraud_share_by_hour[h] for h in range(8, 20)])
    assert night > 10 * day
    # ...and in large amounts where genuine spending is small.
    assert (
        p.fraud_amount_quantiles["shopping_net"][2]
        > 20 * (p.genuine_amount_quantiles["shopping_net"][2])
    )


def test_a_file_that_is_not_sparkov_is_refused_with_its_line(tmp_path):
    bad = tmp_path / "bad.csv.gz"
    with gzip.open(bad, "wt") as handle:
        handle.write(
            "trans_date_trans_time,cc_num,category,amt,gender,lat,long,city_pop,dob,"
            "unix_time,merch_lat,merch_long,is_fraud\n"
        )
        person = "F,40.1,-75.2,5000,1980-02-03"
        handle.write(f"2020-01-01 10:00:00,card_a,travel,12.5,{person},1,40.3,-75.1,0\n")
        handle.write(f"2020-01-01 10:00:00,card_a,casino,12.5,{person},2,40.3,-75.1,0\n")
    with pytest.raises(ValueError, match=r"line 3: .*casino"):
        read_rows(bad)
