"""The pure parts of a candidate in shadow: what its event records, where it is read from,
and how a backtest decides with it."""

from __future__ import annotations

import argparse
import json
import math

import pytest

from fraudit.api.plan import shadow_scores
from fraudit.api.wiring import load_shadow_policy
from fraudit.backtest.candidate import NO_SHADOW_SCORES, Candidate, NotReplayable, Replayer
from fraudit.cli.backtest import _policy_text
from fraudit.contracts import ScoredEvent, ShadowScores
from fraudit.families.cards import CARDS
from fraudit.families.ulb import ULB
from fraudit.models.layout import CANDIDATES_DIR, MANIFEST_FILE, POLICY_FILE, shadow_model_dir
from fraudit.rules.document import PublishedRule, RulesetDocument
from fraudit.scoring.base import Scores
from fraudit.scoring.calibration import PlattCalibration
from fraudit.scoring.policy import DecisionPolicy, PolicyError
from fraudit.settings import Settings
from tests.support.stream_records import card_event

pytestmark = pytest.mark.unit

CANDIDATE = DecisionPolicy(
    version="p-cand",
    decline_threshold=0.8,
    review_threshold=0.4,
    model_version="m-cand",
    calibration=PlattCalibration(slope=1.0, intercept=-1.0),
)


def test_the_event_records_the_candidates_calibrated_probability_and_its_own_decision():
    recorded = shadow_scores(Scores(0.9, 3.0), CANDIDATE)
    assert recorded is not None
    assert recorded.fraud_proba == pytest.approx(CANDIDATE.fraud_probability(0.9))
    assert recorded.fraud_proba != pytest.approx(0.9)  # its calibration, not the raw score
    assert recorded.decision == CANDIDATE.decide(recorded.fraud_proba, 3.0)
    assert (recorded.model_version, recorded.policy_version) == ("m-cand", "p-cand")


@pytest.mark.parametrize("scores", [Scores(math.nan, 0.0), Scores(1.5, 0.0), Scores(0.2, math.inf)])
def test_an_unusable_candidate_answer_is_recorded_as_nothing(scores):
    assert shadow_scores(scores, CANDIDATE) is None


def test_the_shadow_block_refuses_values_no_model_gives():
    good = {
        "model_version": "m",
        "policy_version": "p",
        "anomaly_score": 0.0,
        "decision": "approve",
    }
    for bad, field in (
        ({"fraud_proba": 1.2}, "fraud_proba"),
        ({"fraud_proba": 0.1, "anomaly_score": math.nan}, "anomaly_score"),
    ):
        with pytest.raises(ValueError, match=field):
            ShadowScores(**{**good, **bad})


def test_each_family_names_its_candidates_endpoints_policy_key_and_variable():
    configured = Settings(_env_file=None).family(CARDS)
    assert configured.shadow_endpoints == (
        f"{configured.classifier_endpoint}-shadow",
        f"{configured.anomaly_endpoint}-shadow",
    )
    assert CARDS.shadow_policy_key == "policy/cards/shadow-policy.json"
    assert ULB.shadow_policy_key == "policy/shadow-policy.json"
    assert CARDS.shadow_version_variable == "card_shadow_model_version"
    assert CARDS.variable("shadow_model_version") == "FRAUDIT_CARD_SHADOW_MODEL_VERSION"


def _candidate_folder(tmp_path, policy: DecisionPolicy, version: str):
    folder = tmp_path / CANDIDATES_DIR / CARDS.artifact_dir / version
    folder.mkdir(parents=True)
    (folder / POLICY_FILE).write_text(policy.to_json())
    (folder / MANIFEST_FILE).write_text("{}")  # what makes a folder a stored version


def test_locally_the_candidates_policy_is_read_from_the_candidates_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUDIT_MODEL_DIR", str(tmp_path))
    _candidate_folder(tmp_path, CANDIDATE, "m-cand")
    settings = Settings(_env_file=None)
    assert shadow_model_dir(settings.model_dir, settings.family(CARDS)) == tmp_path / "candidates"
    assert load_shadow_policy(settings, CARDS, "m-cand") == CANDIDATE
    # A folder whose policy is another model's is refused, not served beside the wrong model.
    _candidate_folder(tmp_path, CANDIDATE, "m-other")
    with pytest.raises(PolicyError, match="not m-other's"):
        load_shadow_policy(settings, CARDS, "m-other")


def test_backtest_shadow_model_takes_the_candidates_policy_or_says_what_it_needs(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("FRAUDIT_MODEL_DIR", str(tmp_path))
    _candidate_folder(tmp_path, CANDIDATE, "m-cand")
    args = argparse.Namespace(policy=None, shadow_model=True)
    with pytest.raises(SystemExit, match="FRAUDIT_CARD_SHADOW_MODEL_VERSION"):
        _policy_text(args, Settings(_env_file=None), CARDS)
    monkeypatch.setenv("FRAUDIT_CARD_SHADOW_MODEL_VERSION", "m-cand")
    text = _policy_text(args, Settings(_env_file=None), CARDS)
    assert DecisionPolicy.from_json(text) == CANDIDATE
    monkeypatch.setenv("FRAUDIT_CARD_SHADOW_MODEL_VERSION", "m-gone")
    with pytest.raises(SystemExit, match="error: model version 'm-gone' not found"):
        _policy_text(args, Settings(_env_file=None), CARDS)


def _replayer(shadow_model: bool) -> Replayer:
    rule = PublishedRule(
        rule_id="very_likely",
        version=1,
        family="cards",
        state="live",
        action="decline",
        priority=10,
        expression="fraud_proba >= 0.7",
        reason="the model is sure",
    )
    document = RulesetDocument(version="rs", published_at="2026-01-01T00:00:00Z", rules=(rule,))
    policy = DecisionPolicy(
        version="p", decline_threshold=0.95, review_threshold=0.5, model_version="m-cand"
    )
    return Replayer(
        Candidate(
            family="cards",
            ruleset=document.to_json(),
            policy=policy.to_json(),
            shadow_model=shadow_model,
        )
    )


def _event(shadow: float | None) -> ScoredEvent:
    made = card_event(1, fraud_proba=0.1, decision="approve", rules=None)
    if shadow is None:
        return made
    recorded = ShadowScores(
        model_version="m-cand",
        policy_version="p",
        fraud_proba=shadow,
        anomaly_score=0.0,
        decision="review",
    )
    return made.model_copy(update={"shadow": recorded})


def test_with_the_shadow_model_the_rules_and_the_policy_read_the_candidates_scores():
    replayed = _replayer(shadow_model=True).replay(_event(0.75))
    assert replayed.fired == ("very_likely",)  # the rule read the candidate's 0.75
    assert replayed.candidate_decision == "decline"
    assert replayed.model_decision == "review"  # the policy alone, on 0.75
    assert replayed.candidate_score == pytest.approx(0.75)
    assert (replayed.live_decision, replayed.live_score) == ("approve", pytest.approx(0.1))
    assert replayed.model_version_matches
    live_only = _replayer(shadow_model=False).replay(_event(0.75))
    assert live_only.fired == ()
    assert live_only.candidate_decision == "approve"
    assert not live_only.model_version_matches  # the live model's scores, another version


def test_an_event_the_candidate_did_not_score_is_not_replayable():
    with pytest.raises(NotReplayable, match="no candidate scores"):
        _replayer(shadow_model=True).replay(_event(None))
    assert "shadow" in NO_SHADOW_SCORES
    assert json.loads(_event(None).model_dump_json()).get("shadow") is None
