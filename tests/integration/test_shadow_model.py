"""A candidate model scoring live traffic in shadow (docs/MODELS.md): a second ULB model,
trained on the real dev rows with another seed, set up as the family's shadow the way a
deployment sets it (its settings, read by the API's wiring). Its scores land on every event
and decide nothing; a candidate that fails, hangs, breaks or answers nonsense changes no
answer; the model server serves it beside the live model, as SageMaker would."""

from __future__ import annotations

import json
import math
import threading

import pytest
from chalice.test import Client
from moto import mock_aws

from fraudit.api.service import FamilyModel
from fraudit.api.wiring import build_models
from fraudit.families.ulb import ULB
from fraudit.models.layout import CANDIDATES_DIR
from fraudit.models.server import ModelServer, family_endpoints
from fraudit.models.ulb.bundle import load_bundle
from fraudit.models.ulb.serving import InProcessScorer
from fraudit.models.ulb.train import run_training
from fraudit.scoring.base import Scores, ScoringUnavailable
from fraudit.settings import Settings
from fraudit.ulb_vector import parse_features
from tests.support.api import JSON, kinesis_stream, make_app, payload, read_stream

pytestmark = pytest.mark.integration

SENT = 40  # genuine rows and frauds of the dev sample


@pytest.fixture(scope="module")
def candidate(tmp_path_factory, dev_csv):
    """(its folder, its version): where `fraudit train --from-store` would put it."""
    root = tmp_path_factory.mktemp("models") / CANDIDATES_DIR
    settings = Settings(_env_file=None, model_dir=root, seed=2)
    return root, run_training(settings, data_path=dev_csv, progress=lambda _: None).version


@pytest.fixture
def kinesis():
    with mock_aws():
        yield kinesis_stream()


def _shadow_settings(monkeypatch, trained, candidate, scorer: str) -> Settings:
    root, version = candidate
    monkeypatch.setenv("FRAUDIT_MODEL_DIR", str(trained.path.parent))
    monkeypatch.setenv("FRAUDIT_SCORER", scorer)
    monkeypatch.setenv(ULB.variable("shadow_model_version"), version)
    monkeypatch.setenv(ULB.variable("shadow_model_dir"), str(root))
    return Settings(_env_file=None)


def _bodies() -> list[dict]:
    return [payload(i, fraud=i % 4 == 0) for i in range(SENT)]


def _answers(app, bodies: list[dict]) -> list[dict]:
    with Client(app) as client:
        out = []
        for body in bodies:
            response = client.http.post("/predict", headers=JSON, body=json.dumps(body))
            assert response.status_code == 200, response.body
            out.append(json.loads(response.body))
        return out


def _decided(answer: dict) -> tuple:
    return (
        answer["decision"],
        answer["fraud_classifier"]["pred_proba"],
        answer["anomaly_detector"]["score"],
        answer["model_version"],
    )


def test_the_candidate_scores_every_event_in_shadow_and_decides_nothing(
    monkeypatch, trained, bundle, candidate, kinesis
):
    settings = _shadow_settings(monkeypatch, trained, candidate, "in-process")
    shadow = build_models(settings)[ULB.name].shadow
    assert shadow is not None
    root, version = candidate
    assert shadow.policy.model_version == version != bundle.version
    bodies = _bodies()
    with_shadow = make_app(bundle, kinesis, shadow=shadow)
    answers = _answers(with_shadow, bodies)
    events = {e["event_id"]: e for e in read_stream(kinesis)}
    # The same transactions through an API without a shadow: the same answers.
    assert [_decided(a) for a in answers] == [
        _decided(a) for a in _answers(make_app(bundle, kinesis), bodies)
    ]
    assert all("shadow" not in a for a in answers)  # the client never sees the candidate
    with Client(with_shadow) as client:
        health = json.loads(client.http.get("/health").body)
    assert health[ULB.shadow_health_key] == version
    expected = load_bundle(root, version)
    raw = InProcessScorer(expected).score([parse_features(b["data"]) for b in bodies])
    differ = 0
    for answer, scores in zip(answers, raw, strict=True):
        event = events[answer["event_id"]]
        recorded = event["shadow"]
        p = expected.policy.fraud_probability(scores.fraud_proba)
        assert recorded["model_version"] == version
        assert recorded["policy_version"] == expected.policy.version
        assert recorded["fraud_proba"] == pytest.approx(p, abs=1e-9)
        assert recorded["anomaly_score"] == pytest.approx(scores.anomaly_score, rel=1e-9)
        assert recorded["decision"] == expected.policy.decide(p, scores.anomaly_score)
        assert event["decision"] == answer["decision"]  # the live model's, as answered
        differ += abs(recorded["fraud_proba"] - event["fraud_proba"]) > 1e-6
    assert differ > 0  # the candidate is another model, not the live one again


class _Failing:
    model_version = "broken"

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.release = threading.Event()

    def score(self, rows, deadline=None):
        if self.behaviour == "unavailable":
            raise ScoringUnavailable("endpoint down", "the classifier endpoint is down")
        if self.behaviour == "bug":
            raise KeyError("a fault in the candidate's own code")
        if self.behaviour == "hangs":
            self.release.wait(30)
            return [Scores(0.5, 0.0) for _ in rows]
        return [Scores(math.nan, 0.0) for _ in rows]  # nonsense

    def explain(self, rows, deadline=None):
        raise AssertionError("a candidate is never asked for reasons")

    def close(self) -> None:
        self.release.set()


@pytest.mark.parametrize("behaviour", ["unavailable", "bug", "hangs", "nonsense"])
def test_a_candidate_that_fails_hangs_breaks_or_answers_nonsense_changes_no_answer(
    behaviour, bundle, kinesis, caplog
):
    failing = _Failing(behaviour)
    shadow = FamilyModel(failing, bundle.policy)
    bodies = _bodies()[:6]
    try:
        with caplog.at_level("WARNING", logger="fraudit.api"):
            answers = _answers(
                make_app(bundle, kinesis, shadow=shadow, shadow_timeout_seconds=0.2), bodies
            )
    finally:
        failing.close()
    if behaviour == "hangs":  # 4 slots held by hung calls: the 5th and 6th skip it at once
        assert caplog.text.count("its earlier calls are still running") == 2
    events = {e["event_id"]: e for e in read_stream(kinesis)}
    assert len(events) == len(bodies)
    assert all("shadow" not in events[a["event_id"]] for a in answers)
    assert [_decided(a) for a in answers] == [
        _decided(a) for a in _answers(make_app(bundle, kinesis), bodies)
    ]


def test_the_model_server_serves_the_candidate_as_sagemaker_would(monkeypatch, trained, candidate):
    """The API's shadow scorer over HTTP (the SageMaker runtime's wire contract) against the
    local model server, which serves the candidate beside the live model."""
    settings = _shadow_settings(monkeypatch, trained, candidate, "sagemaker")
    root, version = candidate
    endpoints = family_endpoints(settings.model_dir, settings, only=ULB)
    configured = settings.family(ULB)
    names = {e.name: e.model_version for e in endpoints}
    assert names == {
        configured.classifier_endpoint: trained.version,
        configured.anomaly_endpoint: trained.version,
        **dict.fromkeys(configured.shadow_endpoints, version),
    }
    server = ModelServer(("127.0.0.1", 0), endpoints, max_body_bytes=1_000_000)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        shadow = build_models(Settings(_env_file=None))[ULB.name].shadow
        assert shadow is not None
        rows = [parse_features(b["data"]) for b in _bodies()[:10]]
        over_http = shadow.scorer.score(rows)
        in_process = InProcessScorer(load_bundle(root, version)).score(rows)
        for a, b in zip(over_http, in_process, strict=True):
            assert a.fraud_proba == pytest.approx(b.fraud_proba, rel=1e-6)
            assert a.anomaly_score == pytest.approx(b.anomaly_score, rel=1e-6)
        shadow.scorer.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_candidate_that_cannot_be_loaded_is_logged_and_the_live_model_serves(
    monkeypatch, trained, candidate, caplog
):
    _shadow_settings(monkeypatch, trained, candidate, "in-process")
    monkeypatch.setenv(ULB.variable("shadow_model_version"), "20990101T000000Z-missing")
    with caplog.at_level("ERROR", logger="fraudit.api"):
        models = build_models(Settings(_env_file=None))
    assert models[ULB.name].shadow is None
    assert models[ULB.name].policy.model_version == trained.version
    assert "cannot score in shadow" in caplog.text
