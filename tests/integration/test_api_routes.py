from __future__ import annotations

import json
import logging

import pytest
from chalice.test import Client
from moto import mock_aws

from fraudit.schema_versions import SCHEMA_VERSION
from tests.support.api import JSON, kinesis_stream, make_app, payload, read_stream

pytestmark = pytest.mark.integration


@pytest.fixture
def kinesis():
    with mock_aws():
        yield kinesis_stream()


@pytest.fixture
def client(bundle, kinesis):
    with Client(make_app(bundle, kinesis)) as test_client:
        yield test_client


def post(client, body, path="/predict", headers=JSON):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.http.post(path, headers=headers, body=raw)


def test_predict_scores_decides_and_publishes_exactly_what_it_answered(client, kinesis, bundle):
    genuine = post(client, payload(1, transaction_id="tx-genuine-1"))
    fraud = post(client, payload(2, fraud=True, transaction_id=None))
    assert genuine.status_code == fraud.status_code == 200
    g, f = genuine.json_body, fraud.json_body
    assert g["event_id"] == "tx-genuine-1"  # the client's idempotency key
    assert len(f["event_id"]) == 36  # a new UUID when none is given
    assert g["decision"] == "approve"
    assert f["decision"] in ("review", "decline")
    assert f["fraud_classifier"]["pred_proba"] > g["fraud_classifier"]["pred_proba"]
    for body in (g, f):
        assert body["model_version"] == bundle.version
        assert body["policy_version"] == bundle.policy.version
        assert body["schema_version"] == SCHEMA_VERSION
    events = {e["event_id"]: e for e in read_stream(kinesis)}
    assert set(events) == {g["event_id"], f["event_id"]}
    for body in (g, f):
        event = events[body["event_id"]]
        assert event["decision"] == body["decision"]
        assert event["fraud_proba"] == body["fraud_classifier"]["pred_proba"]
        assert event["fraud_prediction"] == body["fraud_classifier"]["prediction"]
        assert event["anomaly_score"] == body["anomaly_detector"]["score"]
        assert event["model_version"] == body["model_version"]
    sent = payload(1)
    assert events["tx-genuine-1"]["user_id"] == sent["metadata"]["user_id"]
    assert events["tx-genuine-1"]["amount"] == float(sent["data"].split(",")[-1])


def test_every_bad_field_is_named_in_a_400(client, kinesis):
    body = payload(3, user_id="", ip_address="300.1.1.1")
    body["data"] = "1,2,x"
    response = post(client, body)
    assert response.status_code == 400
    fields = {d["field"] for d in response.json_body["details"]}
    assert {"metadata.user_id", "metadata.ip_address", "data"} <= fields
    assert "expected 30 features" in json.dumps(response.json_body)
    assert read_stream(kinesis) == []  # nothing published for a refused request


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b'{"metadata": NaN}', "invalid_json"),
        (b"[1, 2]", "invalid_request"),
        (b'"text"', "invalid_request"),
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),
    ],
)
def test_malformed_bodies_are_400s_that_explain(client, raw, code):
    response = post(client, raw)
    assert response.status_code == 400
    assert response.json_body["error"] == code
    assert response.json_body["message"]


def test_wrong_content_type_is_415(client):
    response = post(client, json.dumps(payload()), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "application/json" in response.json_body["message"]


def test_body_over_the_cap_is_413(bundle, kinesis):
    with Client(make_app(bundle, kinesis, api_max_body_bytes=2_000)) as small:
        response = post(
            small, {"transactions": [payload(i) for i in range(5)]}, path="/predict/batch"
        )
        assert response.status_code == 413
        assert "2000-byte limit" in response.json_body["message"]


def test_api_key_is_required_when_configured(bundle, kinesis):
    with Client(make_app(bundle, kinesis, api_key="s3cr3t-key")) as keyed:
        assert post(keyed, payload()).status_code == 401
        wrong = post(keyed, payload(), headers={**JSON, "x-api-key": "s3cr3t-kez"})
        assert wrong.status_code == 401
        assert "x-api-key" in wrong.json_body["message"]
        right = post(keyed, payload(), headers={**JSON, "x-api-key": "s3cr3t-key"})
        assert right.status_code == 200
        health = keyed.http.get("/health")  # probes need no key
        assert health.status_code == 200
        assert health.json_body["api_key_required"] is True


def test_batch_answers_per_item_in_order(client, kinesis):
    items = [
        payload(0),
        {"metadata": {"user_id": "u"}, "data": "1"},
        payload(5, fraud=True),
        "not an object",
        payload(7, transaction_id="tx-7"),
    ]
    response = post(client, {"transactions": items}, path="/predict/batch")
    assert response.status_code == 200
    results = response.json_body["results"]
    assert [r["status"] for r in results] == [200, 400, 200, 400, 200]
    assert results[4]["event_id"] == "tx-7"
    assert "metadata.timestamp" in {d["field"] for d in results[1]["details"]}
    published = {e["event_id"] for e in read_stream(kinesis)}
    assert published == {r["event_id"] for r in results if r["status"] == 200}


def test_batch_limits(bundle, kinesis):
    with Client(make_app(bundle, kinesis, api_max_batch=3)) as small:
        too_many = post(
            small, {"transactions": [payload(i) for i in range(4)]}, path="/predict/batch"
        )
        assert too_many.status_code == 400
        assert too_many.json_body["error"] == "batch_too_large"
        empty = post(small, {"transactions": []}, path="/predict/batch")
        assert empty.status_code == 400


def test_health_is_cheap_and_reports_versions(client, bundle):
    response = client.http.get("/health")
    assert response.status_code == 200
    body = response.json_body
    assert body["model_version"] == bundle.version
    assert body["policy_version"] == bundle.policy.version
    assert body["stream"] == "fraud-predictions"
    assert body["api_key_required"] is False


def test_request_log_is_structured_and_carries_no_secrets_or_features(bundle, kinesis, caplog):
    body = payload(9, transaction_id="tx-log")
    with (
        Client(make_app(bundle, kinesis, api_key="k3y-value-9")) as keyed,
        caplog.at_level(logging.INFO, logger="fraudit.api"),
    ):
        post(keyed, body, headers={**JSON, "x-api-key": "k3y-value-9"})
    (record,) = [r for r in caplog.records if r.getMessage() == "request"]
    fields = record.fields
    assert fields["status"] == 200
    assert fields["event_id"] == "tx-log"
    assert fields["decision"] in ("approve", "review", "decline")
    assert fields["latency_ms"] >= 0
    assert fields["request_id"]
    text = json.dumps(fields) + caplog.text
    assert "k3y-value-9" not in text
    assert body["data"].split(",")[5] not in text  # no feature values
