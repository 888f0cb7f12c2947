from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kurtosis

from fraudit.data.creditcard import load_creditcard
from fraudit.data.synthetic import (
    PUBLISHED_AMOUNT,
    SyntheticCreditCard,
    load_class_stats,
    scale_mixture_params,
    write_csv,
)
from fraudit.ulb_vector import ULB_COLUMNS

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def half_million():
    return SyntheticCreditCard().generate(500_000, seed=7)


@pytest.mark.parametrize(
    ("name", "whole_std"), [("V1", 1.958696), ("Amount", 250.1201), ("Time", 47488.146)]
)
def test_shipped_class_stats_recombine_to_the_published_whole_dataset_std(name, whole_std):
    # The per-class figures were collected from public notebooks; pooled over both classes
    # (284,315 genuine, 492 frauds) they must give the whole file's published std.
    stats, sizes = load_class_stats(), {0: 284_315, 1: 492}
    total = sum(sizes.values())
    mean = sum(sizes[c] * stats[c].mean[name] for c in sizes) / total
    spread = sum(
        (sizes[c] - 1) * stats[c].std[name] ** 2 + sizes[c] * (stats[c].mean[name] - mean) ** 2
        for c in sizes
    )
    assert (spread / (total - 1)) ** 0.5 == pytest.approx(whole_std, rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("label", [0, 1])
def test_per_class_moments_match_the_published_statistics(half_million, label):
    stats = load_class_stats()[label]
    rows = half_million.X[half_million.y == label]
    for j, name in enumerate(ULB_COLUMNS):
        mean, std = rows[:, j].mean(), rows[:, j].std(ddof=1)
        assert abs(mean - stats.mean[name]) <= 0.05 * stats.std[name], name
        assert abs(std / stats.std[name] - 1) <= 0.10, name


@pytest.mark.slow
@pytest.mark.parametrize("label", [0, 1])
def test_amount_quartiles_match(half_million, label):
    amount = half_million.X[half_million.y == label, -1]
    q1, median, q3 = np.percentile(amount, [25, 50, 75])
    want = PUBLISHED_AMOUNT[label]
    for got, key in ((q1, "q1"), (median, "median"), (q3, "q3")):
        assert abs(got / want[key] - 1) <= 0.10, (key, got, want[key])
    assert amount.min() >= 0
    assert amount.max() <= want["max"] + 0.01


@pytest.mark.slow
def test_heavy_tails_and_fraud_rate_and_time(half_million):
    for name in ("V28", "V23", "Amount"):
        assert kurtosis(half_million.X[:, ULB_COLUMNS.index(name)]) > 10, name
    assert half_million.n_frauds == round(500_000 * 492 / 284_807)
    time = half_million.time
    assert time.min() >= 0
    assert time.max() <= 172_792
    assert np.all(np.diff(time) >= 0)


def test_plain_gaussians_would_fail_the_tail_check():
    # The check above must be able to fail: Gaussian features have kurtosis ~0.
    gaussian = np.random.default_rng(0).standard_normal(500_000)
    assert abs(kurtosis(gaussian)) < 0.1
    p, big, small = scale_mixture_params(30.0)
    assert abs(p * big + (1 - p) * small - 1) < 1e-12  # unit variance
    assert abs(3 * (p * big**2 + (1 - p) * small**2) - 3 - 30.0) < 1e-9


def test_same_seed_same_rows_other_seed_other_rows():
    a = SyntheticCreditCard().generate(20_000, seed=3)
    b = SyntheticCreditCard().generate(20_000, seed=3)
    c = SyntheticCreditCard().generate(20_000, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)


def test_written_file_is_a_valid_creditcard_csv(tmp_path):
    data = SyntheticCreditCard().generate(5_000, seed=1)
    path = write_csv(data, tmp_path / "synthetic.csv", chunk_rows=1_500)
    back = load_creditcard(path)
    assert back.n_rows == 5_000
    assert back.n_frauds == data.n_frauds
    np.testing.assert_allclose(back.X, data.X, rtol=0, atol=0.005)
    assert not (tmp_path / "synthetic.csv.part").exists()


def test_fraud_rate_is_validated():
    with pytest.raises(ValueError, match="fraud_rate"):
        SyntheticCreditCard(fraud_rate=0.7)
