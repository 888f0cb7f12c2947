from __future__ import annotations

import math

import pytest

from fraudit.scoring.policy import DecisionPolicy, PolicyError

pytestmark = pytest.mark.unit

POLICY = DecisionPolicy(
    version="p-1",
    decline_threshold=0.8,
    review_threshold=0.2,
    anomaly_review_threshold=5.0,
    model_version="m-1",
)


@pytest.mark.parametrize(
    ("proba", "anomaly", "decision"),
    [
        (0.95, 0.1, "decline"),
        (0.8, 0.1, "decline"),
        (0.5, 0.1, "review"),
        (0.2, 0.1, "review"),
        (0.05, 0.1, "approve"),
        (0.05, 6.0, "review"),
        (0.95, 9.0, "decline"),
    ],
)
def test_decisions(proba, anomaly, decision):
    assert POLICY.decide(proba, anomaly) == decision


def test_no_anomaly_threshold_means_classifier_alone():
    policy = DecisionPolicy(version="p", decline_threshold=0.8, review_threshold=0.2)
    assert policy.decide(0.0, 1e9) == "approve"


def test_refuses_to_decide_on_a_broken_score():
    with pytest.raises(ValueError, match="finite"):
        POLICY.decide(math.nan, 0.1)


def test_json_round_trip():
    assert DecisionPolicy.from_json(POLICY.to_json()) == POLICY


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"review_threshold": 0.9}, "must not exceed"),
        ({"decline_threshold": 1.5}, "probability"),
        ({"version": ""}, "version"),
    ],
)
def test_inconsistent_policies_are_refused(changes, message):
    fields = {**POLICY.to_dict(), **changes}
    fields.pop("format")
    with pytest.raises(PolicyError, match=message):
        DecisionPolicy(**fields)


def test_unknown_format_and_fields_are_refused():
    with pytest.raises(PolicyError, match="format"):
        DecisionPolicy.from_dict({**POLICY.to_dict(), "format": 99})
    with pytest.raises(PolicyError, match="malformed"):
        DecisionPolicy.from_dict({**POLICY.to_dict(), "surprise": 1})
    with pytest.raises(PolicyError, match="not JSON"):
        DecisionPolicy.from_json("{")
