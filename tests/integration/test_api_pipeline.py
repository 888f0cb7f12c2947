"""POST over HTTP -> local model server -> kinesalite; events read back and compared."""

from __future__ import annotations

import http.client
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest

from tests.support.api import payload, read_stream

pytestmark = pytest.mark.integration


def connect(url: str) -> http.client.HTTPConnection:
    parsed = urlparse(url)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)


def call(conn, path, body):
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_events_on_the_stream_match_the_answers_field_by_field(
    api_server, kinesis_emulator, bundle
):
    conn = connect(api_server)  # one keep-alive connection for everything
    sent, answers = [], []
    for i in range(12):
        body = payload(i, fraud=i % 4 == 0, transaction_id=f"tx-it-{i}")
        status, answer = call(conn, "/predict", body)
        assert status == 200, answer
        sent.append(body)
        answers.append(answer)
    batch = [payload(100 + i, fraud=i % 5 == 0, transaction_id=f"tx-itb-{i}") for i in range(30)]
    status, result = call(conn, "/predict/batch", {"transactions": batch})
    assert status == 200
    assert [r["status"] for r in result["results"]] == [200] * 30
    sent += batch
    answers += result["results"]
    conn.close()

    events = {e["event_id"]: e for e in read_stream(kinesis_emulator.client())}
    for body, answer in zip(sent, answers, strict=True):
        event = events[answer["event_id"]]
        meta = body["metadata"]
        assert answer["event_id"] == meta["transaction_id"]
        assert event["decision"] == answer["decision"]
        assert event["fraud_proba"] == answer["fraud_classifier"]["pred_proba"]
        assert event["fraud_prediction"] == answer["fraud_classifier"]["prediction"]
        assert event["anomaly_score"] == answer["anomaly_detector"]["score"]
        assert event["model_version"] == answer["model_version"] == bundle.version
        assert event["policy_version"] == answer["policy_version"] == bundle.policy.version
        assert event["user_id"] == meta["user_id"]
        assert event["source"] == meta["source"]
        assert event["amount"] == float(body["data"].split(",")[-1])
        assert event["timestamp"] == meta["timestamp"]
        assert event["ip_address"] == meta["ip_address"]
        assert event["geo"]["country"] == meta["geo"]["country"]
        assert event["device_info"] == meta["device_info"]
        assert event["scored_at"] >= event["timestamp"]
    frauds = [
        a
        for b, a in zip(sent, answers, strict=True)
        if b["data"] in {payload(i, fraud=True)["data"] for i in range(20)}
    ]
    assert frauds
    assert all(a["decision"] != "approve" for a in frauds)


def test_the_apis_calibrated_probability_equals_the_training_pipelines(api_server, bundle):
    """pred_proba is the endpoint's raw probability calibrated by the policy: over HTTP
    (model server, API) it equals what the training pipeline computes for the same rows
    (fraudit.models.calibrate.calibrated on the booster's own prediction)."""
    import numpy as np

    from fraudit.models.calibrate import calibrated
    from fraudit.models.classifier import predict

    conn = connect(api_server)
    bodies = [payload(i, fraud=i % 2 == 0, transaction_id=f"tx-calibrated-{i}") for i in range(20)]
    answers = []
    for body in bodies:
        status, answer = call(conn, "/predict", body)
        assert status == 200, answer
        answers.append(answer)
    conn.close()
    X = np.array([[float(v) for v in body["data"].split(",")] for body in bodies])
    raw = predict(bundle.classifier, X)
    assert bundle.policy.calibration is not None
    expected = calibrated(bundle.policy.calibration, raw)
    served = np.array([a["fraud_classifier"]["pred_proba"] for a in answers])
    np.testing.assert_allclose(served, expected, rtol=1e-12, atol=0)
    assert np.max(np.abs(served - raw)) > 1e-3  # the raw score would not pass
    for answer, p in zip(answers, expected, strict=True):
        assert answer["decision"] == bundle.policy.decide(
            float(p), answer["anomaly_detector"]["score"]
        )
    assert answers[0]["anomaly_detector"]["score"] == pytest.approx(
        float(bundle.anomaly.score(X[:1])[0])
    )


def test_backlog_holds_a_burst_of_connections(api_server):
    parsed = urlparse(api_server)
    sockets = [
        socket.create_connection((parsed.hostname, parsed.port), timeout=10) for _ in range(120)
    ]  # stock `chalice local` drops these past 5
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    def ask(sock):
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        sock.close()
        return data.split(b" ", 2)[1]

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(ask, sockets))
    assert statuses == [b"200"] * 120


def test_health_and_openapi_over_http(api_server, bundle):
    conn = connect(api_server)
    conn.request("GET", "/health")
    health = json.loads(conn.getresponse().read())
    assert health["model_version"] == bundle.version
    assert health["scorer"] == "SageMakerScorer"
    conn.request("GET", "/openapi.json")
    assert "/predict/batch" in json.loads(conn.getresponse().read())["paths"]
