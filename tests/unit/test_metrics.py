from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudit.models import metrics, thresholds

pytestmark = pytest.mark.unit


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    y = (rng.random(3_000) < 0.05).astype(np.int8)
    scores = np.round(rng.normal(y * 1.5, 1.0), 2)  # rounding makes ties
    return y, scores


def test_average_precision_matches_sklearn_with_and_without_weights(scored):
    y, s = scored
    assert metrics.average_precision(y, s) == pytest.approx(average_precision_score(y, s))
    w = metrics.negative_weight(y, 0.002)
    weights = np.where(y == 1, 1.0, w)
    assert metrics.average_precision(y, s, w) == pytest.approx(
        average_precision_score(y, s, sample_weight=weights)
    )


def test_roc_auc_matches_sklearn(scored):
    y, s = scored
    assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_negative_weight_brings_the_rate_to_production(scored):
    y, _ = scored
    w = metrics.negative_weight(y, 0.00172)
    rate = y.sum() / (y.sum() + w * (len(y) - y.sum()))
    assert rate == pytest.approx(0.00172)


def test_confusion_and_derived_figures():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.1, 0.1, 0.0])
    r = metrics.at_threshold(y, s, 0.5)
    assert r["confusion_matrix"] == {"tn": 4, "fp": 1, "fn": 1, "tp": 2}
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    # kappa by hand: po = 6/8, pe = (3*3 + 5*5)/64
    assert r["cohen_kappa"] == pytest.approx((6 / 8 - 34 / 64) / (1 - 34 / 64))
    assert metrics.at_threshold(y, s, 0.5, w_neg=3.0)["precision"] == pytest.approx(2 / 5)


def test_recall_at_fpr():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.5, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01, 0.0])
    assert metrics.recall_at_fpr(y, s, 0.0) == 0.5
    assert metrics.recall_at_fpr(y, s, 0.125) == 1.0


def test_thresholds_meet_their_targets(scored):
    y, s = scored
    t = thresholds.decline_threshold(y, s, 0.9, 1.0)
    assert metrics.at_threshold(y, s, t)["precision"] >= 0.9
    lower = s[s < t].max()
    assert metrics.at_threshold(y, s, lower)["precision"] < 0.9  # lowest that meets it
    r = thresholds.review_threshold(y, s, 0.5, ceiling=10.0, max_review_rate=1.0)
    assert metrics.at_threshold(y, s, r)["recall"] >= 0.5
    budget = thresholds.review_threshold(y, s, 0.99, ceiling=10.0, max_review_rate=0.01)
    assert metrics.at_threshold(y, s, budget)["false_positive_rate"] <= 0.01
    assert thresholds.anomaly_threshold(np.arange(1000.0), 0.01) == pytest.approx(989.01)
    assert thresholds.anomaly_threshold(np.arange(10.0), 0.0) is None


def test_bootstrap_interval_contains_the_point_estimate(scored):
    y, s = scored
    boots = metrics.bootstrap_mean_auprc(y, [s], w_neg=1.0, n_boot=200)
    lo, hi = metrics.interval(boots)
    assert lo < metrics.average_precision(y, s) < hi


@pytest.mark.parametrize(
    ("mean", "sd", "n", "outcome"),
    [
        (0.01, 0.002, 4, 1),  # 2 SE = 0.002: beyond
        (-0.01, 0.002, 4, -1),
        (0.002, 0.002, 4, 0),  # exactly 2 SE: not beyond
        (0.01, 0.02, 4, 0),  # 2 SE = 0.02
        (0.5, 0.0, 1, 0),  # one fold proves nothing
    ],
)
def test_paired_outcome_counts_only_beyond_two_standard_errors(mean, sd, n, outcome):
    assert metrics.paired_outcome(mean, sd, n) == outcome
