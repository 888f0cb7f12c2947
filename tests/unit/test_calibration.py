"""Calibration: the pure function the API applies, its place in the policy document, and the
training side's fit and judgement (Brier score, reliability bins)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fraudit.models.calibrate import brier, calibrated, fit_platt, reliability
from fraudit.scoring.calibration import CalibrationError, PlattCalibration
from fraudit.scoring.policy import DecisionPolicy, PolicyError

pytestmark = pytest.mark.unit

CALIBRATION = PlattCalibration(slope=1.5, intercept=-4.0)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@pytest.mark.parametrize("raw", [0.5, 0.9, 0.01, 0.999])
def test_apply_is_the_sigmoid_of_the_scaled_logit(raw):
    expected = _sigmoid(1.5 * math.log(raw / (1 - raw)) - 4.0)
    assert CALIBRATION.apply(raw) == pytest.approx(expected, rel=1e-12)


def test_apply_is_increasing_and_finite_at_the_ends():
    raws = [0.0, 1e-300, 1e-9, 0.001, 0.2, 0.5, 0.8, 0.999999, 1.0]
    values = [CALIBRATION.apply(r) for r in raws]
    assert all(0.0 <= v <= 1.0 and math.isfinite(v) for v in values)
    assert values == sorted(values)
    assert values[-1] > values[-2] > values[4]
    # Huge slopes do not overflow exp().
    steep = PlattCalibration(slope=1e4, intercept=0.0)
    assert steep.apply(0.9) == 1.0
    assert steep.apply(0.1) == 0.0


def test_apply_refuses_a_non_finite_score():
    with pytest.raises(ValueError, match="finite"):
        CALIBRATION.apply(math.nan)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"method": "platt", "slope": 0.0, "intercept": 0.0}, "positive"),
        ({"method": "platt", "slope": -1.0, "intercept": 0.0}, "positive"),
        ({"method": "platt", "slope": math.inf, "intercept": 0.0}, "finite"),
        ({"method": "platt", "slope": True, "intercept": 0.0}, "number"),
        ({"method": "platt", "slope": "1", "intercept": 0.0}, "number"),
        ({"method": "isotonic", "slope": 1.0, "intercept": 0.0}, "unknown calibration method"),
        ({"method": "platt", "slope": 1.0}, "lacks 'intercept'"),
        ({"method": "platt", "slope": 1.0, "intercept": 0.0, "x": 1}, "unknown calibration"),
    ],
)
def test_malformed_calibrations_are_refused(document, message):
    with pytest.raises(CalibrationError, match=message):
        PlattCalibration.from_dict(document)


POLICY = DecisionPolicy(
    version="p-1",
    decline_threshold=0.5,
    review_threshold=0.05,
    anomaly_review_threshold=5.0,
    model_version="m-1",
    calibration=CALIBRATION,
)


def test_policy_round_trip_keeps_the_calibration():
    document = json.loads(POLICY.to_json())
    assert document["format"] == 2
    assert document["calibration"] == {"method": "platt", "slope": 1.5, "intercept": -4.0}
    assert DecisionPolicy.from_json(POLICY.to_json()) == POLICY


def test_thresholds_apply_to_the_calibrated_probability():
    raw = 0.9  # above the decline threshold raw, calibrated to ~0.12
    proba = POLICY.fraud_probability(raw)
    assert proba == CALIBRATION.apply(raw)
    assert POLICY.decide(proba, 0.0) == "review"


def test_a_format_1_policy_decides_on_the_raw_probability():
    document = {
        "format": 1,
        "version": "p-old",
        "decline_threshold": 0.8,
        "review_threshold": 0.2,
        "anomaly_review_threshold": None,
        "model_version": "m",
        "targets": {},
        "validation": {},
    }
    policy = DecisionPolicy.from_dict(document)
    assert policy.calibration is None
    assert policy.fraud_probability(0.37) == 0.37


def test_a_policy_with_a_broken_calibration_is_refused():
    document = {**POLICY.to_dict(), "calibration": {"method": "platt", "slope": -2.0}}
    with pytest.raises(PolicyError, match="malformed policy"):
        DecisionPolicy.from_dict(document)
    with pytest.raises(PolicyError, match="object"):
        DecisionPolicy.from_dict({**POLICY.to_dict(), "calibration": [1, 2]})


def test_fit_recovers_the_parameters_that_made_the_labels():
    rng = np.random.default_rng(3)
    z = rng.normal(-2.0, 2.5, 200_000)
    raw = 1.0 / (1.0 + np.exp(-z))
    truth = 1.0 / (1.0 + np.exp(-(0.7 * z - 3.0)))
    y = (rng.random(len(z)) < truth).astype(np.int8)
    fitted = fit_platt(y, raw, w_neg=1.0)
    assert fitted.slope == pytest.approx(0.7, abs=0.03)
    assert fitted.intercept == pytest.approx(-3.0, abs=0.06)


def test_reweighting_negatives_lowers_the_probability():
    rng = np.random.default_rng(4)
    z = rng.normal(0.0, 2.0, 50_000)
    raw = 1.0 / (1.0 + np.exp(-z))
    y = (rng.random(len(z)) < raw).astype(np.int8)
    plain, weighted = fit_platt(y, raw, 1.0), fit_platt(y, raw, 8.0)
    # Eight times the negatives: the odds fall by about eight (log 8 on the intercept).
    assert plain.intercept - weighted.intercept == pytest.approx(math.log(8.0), abs=0.1)
    assert calibrated(weighted, raw).mean() < calibrated(plain, raw).mean()


def test_fit_needs_both_classes():
    with pytest.raises(ValueError, match="both"):
        fit_platt(np.zeros(10), np.full(10, 0.3), 1.0)


def test_brier_by_hand():
    y = np.array([1, 0, 0])
    p = np.array([0.5, 0.1, 0.0])
    assert brier(y, p, 1.0) == pytest.approx((0.25 + 0.01 + 0.0) / 3)
    # Negatives weighted 2: (0.25 + 2 * 0.01 + 2 * 0) / 5.
    assert brier(y, p, 2.0) == pytest.approx(0.27 / 5)


def test_reliability_bins_by_hand():
    y = np.array([0, 0, 1, 1, 0])
    p = np.array([0.00005, 0.00005, 0.9, 0.85, 0.9])
    bins = reliability(y, p, 1.0)
    assert [b["bin"] for b in bins] == [[0.0, 1e-4], [0.8, 1.0]]
    low, high = bins
    assert (low["rows"], low["frauds"], low["observed_rate"]) == (2, 0, 0.0)
    assert high["rows"] == 3
    assert high["frauds"] == 2
    assert high["observed_rate"] == pytest.approx(2 / 3)
    assert high["mean_predicted"] == pytest.approx((0.9 + 0.85 + 0.9) / 3)


def test_the_answer_and_the_event_carry_the_calibrated_probability():
    from datetime import UTC, datetime

    from fraudit.api.plan import decide
    from fraudit.contracts import PredictRequest
    from fraudit.scoring.base import Scores

    now = datetime.now(UTC)
    body = {
        "metadata": {
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "user_id": "u_123",
            "source": "checkout",
        },
        "data": ",".join(["1000"] + ["0.5"] * 28 + ["12.5"]),
    }
    request = PredictRequest.model_validate(body)
    response, event = decide(request, Scores(0.9, 1.0), POLICY, "e-1", now)
    assert response.fraud_classifier.pred_proba == CALIBRATION.apply(0.9)
    assert event.fraud_proba == response.fraud_classifier.pred_proba
    # Raw 0.9 would decline; calibrated (~0.12) it is a review, and not a fraud verdict.
    assert response.decision == event.decision == "review"
    assert response.fraud_classifier.prediction == event.fraud_prediction == 0
