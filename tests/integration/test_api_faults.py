"""Faults: throttled and partially failed publishing, model endpoints that error, hang or
answer nonsense. Retried where retryable, 503 otherwise, never a 200 without an event."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber
from chalice.test import Client

from fraudit.aws_clients import aws_client, client_config
from fraudit.publishing import KinesisPublisher
from fraudit.scoring.base import ScoringUnavailable
from fraudit.scoring.sagemaker import SageMakerScorer
from tests.support.api import JSON, STREAM, make_app, payload
from tests.support.processes import FaultModelServer

pytestmark = pytest.mark.integration

XGB, ANOMALY = "fraud-detection-xgb-endpoint", "fraud-detection-anomaly-endpoint"


@pytest.fixture
def kinesis():
    client = boto3.client("kinesis", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def post(client, body, path="/predict"):
    return client.http.post(path, headers=JSON, body=json.dumps(body))


def ok_record(n: int = 1) -> dict:
    return {"SequenceNumber": str(49_000_000 + n), "ShardId": "shardId-000000000000"}


def test_throttled_put_record_is_retried_then_succeeds(bundle, kinesis):
    client, stub = kinesis
    for _ in range(2):
        stub.add_client_error("put_record", "ProvisionedThroughputExceededException")
    stub.add_response(
        "put_record", ok_record(), {"StreamName": STREAM, "Data": ANY, "PartitionKey": ANY}
    )
    with Client(make_app(bundle, client, max_attempts=3)) as api:
        assert post(api, payload()).status_code == 200


def test_persistent_throttling_is_a_503_that_says_retry(bundle, kinesis):
    client, stub = kinesis
    for _ in range(3):
        stub.add_client_error("put_record", "ProvisionedThroughputExceededException")
    with Client(make_app(bundle, client, max_attempts=3)) as api:
        response = post(api, payload(transaction_id="tx-retry-me"))
    assert response.status_code == 503
    body = response.json_body
    assert body["error"] == "stream_unavailable"
    assert body["event_id"] == "tx-retry-me"
    assert "same transaction_id" in body["message"]


def test_non_retryable_stream_error_fails_at_once(bundle, kinesis):
    client, stub = kinesis
    stub.add_client_error("put_record", "ResourceNotFoundException", "no such stream")
    with Client(make_app(bundle, client, max_attempts=5)) as api:
        assert post(api, payload()).status_code == 503  # one call only: stubber has no more


def test_unreachable_stream_is_a_503(bundle):
    dead = boto3.client(
        "kinesis",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=0.5),
    )
    with Client(make_app(bundle, dead, max_attempts=2)) as api:
        response = post(api, payload())
    assert response.status_code == 503
    assert "EndpointConnectionError" in response.json_body["message"]


def test_partial_put_records_failure_resends_only_the_failed_records(bundle, kinesis):
    client, stub = kinesis
    items = [payload(i) for i in range(4)]
    keys = [p["metadata"]["user_id"] for p in items]
    throttled = {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow"}
    stub.add_response(
        "put_records",
        {"FailedRecordCount": 2, "Records": [ok_record(1), throttled, ok_record(3), throttled]},
        {"StreamName": STREAM, "Records": [{"Data": ANY, "PartitionKey": k} for k in keys]},
    )
    stub.add_response(
        "put_records",
        {"Records": [ok_record(2), ok_record(4)]},
        {"StreamName": STREAM, "Records": [{"Data": ANY, "PartitionKey": keys[i]} for i in (1, 3)]},
    )
    with Client(make_app(bundle, client)) as api:
        response = post(api, {"transactions": items}, "/predict/batch")
    assert [r["status"] for r in response.json_body["results"]] == [200] * 4


def test_records_that_never_make_it_are_503_the_others_200(bundle, kinesis):
    client, stub = kinesis
    items = [payload(i) for i in range(3)]
    throttled = {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow"}
    stub.add_response(
        "put_records", {"FailedRecordCount": 1, "Records": [ok_record(1), throttled, ok_record(3)]}
    )
    stub.add_response("put_records", {"FailedRecordCount": 1, "Records": [throttled]})
    with Client(make_app(bundle, client, max_attempts=2)) as api:
        results = post(api, {"transactions": items}, "/predict/batch").json_body["results"]
    assert [r["status"] for r in results] == [200, 503, 200]
    assert results[1]["error"] == "stream_unavailable"
    assert results[1]["event_id"]


def test_publisher_caps_put_records_at_500_per_call():
    client = boto3.client("kinesis", region_name="us-east-1")
    with Stubber(client) as stub:
        for size in (500, 100):
            stub.add_response("put_records", {"Records": [ok_record()] * size})
        outcomes = KinesisPublisher(client, STREAM).publish_many([(b"x", "k")] * 600)
    assert len(outcomes) == 600
    assert all(o.ok for o in outcomes)


def scorer_for(server: FaultModelServer, read_timeout: float = 2.0) -> SageMakerScorer:
    runtime = aws_client(
        "sagemaker-runtime",
        region="us-east-1",
        endpoint_url=server.url,
        config=client_config(
            connect_timeout=0.5, read_timeout=read_timeout, max_attempts=1, pool_size=4
        ),
    )
    return SageMakerScorer(
        runtime, classifier_endpoint=XGB, anomaly_endpoint=ANOMALY, model_version="m"
    )


@pytest.mark.parametrize(
    ("behaviour", "expect"),
    [
        ({XGB: {"status": 500, "code": "InternalFailure"}}, "InternalFailure"),
        ({ANOMALY: {"status": 424, "code": "ModelError"}}, "ModelError"),
        ({ANOMALY: {"garbage": True}}, "unusable model answer"),
        ({XGB: {"hang": 1.5}}, "ReadTimeout"),
    ],
)
def test_endpoint_faults_are_503_and_nothing_is_published(bundle, behaviour, expect):
    with FaultModelServer(behaviour) as server:
        scorer = scorer_for(server, read_timeout=0.4)
        client = boto3.client("kinesis", region_name="us-east-1")
        with Stubber(client), Client(make_app(bundle, client, scorer=scorer)) as api:
            response = post(api, payload())  # a put_record would fail: none is stubbed
    assert response.status_code == 503
    assert response.json_body["error"] == "scoring_unavailable"
    assert expect in response.json_body["message"]


def test_both_endpoints_are_called_at_once():
    with FaultModelServer({XGB: {"delay": 0.2}, ANOMALY: {"delay": 0.2}}) as server:
        scorer_for(server).score([tuple(float(i) for i in range(30))])
    (_, xgb_start, xgb_end), (_, an_start, an_end) = sorted(server.calls)[:2]
    assert {c[0] for c in server.calls} == {XGB, ANOMALY}
    assert xgb_start < an_end
    assert an_start < xgb_end


def test_scorer_refuses_an_answer_with_the_wrong_number_of_scores():
    with (
        FaultModelServer({ANOMALY: {"answer_rows": 1}}) as server,
        pytest.raises(ScoringUnavailable, match="1 scores for 2 rows"),
    ):
        scorer_for(server).score([tuple([0.0] * 30), tuple([1.0] * 30)])
