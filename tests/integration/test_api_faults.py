"""Faults: throttled and partially failed publishing, model endpoints that error, hang or
answer nonsense. Retried where retryable, 503 otherwise, never a 200 without an event."""

from __future__ import annotations

import json
import math
import socket
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber
from chalice.test import Client

from fraudit.aws_clients import aws_client, client_config
from fraudit.families.ulb import ULB
from fraudit.models.ulb.serving import InProcessScorer
from fraudit.publishing import KinesisPublisher
from fraudit.scoring.base import Scores, ScoringUnavailable
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
    body = response.json_body
    assert body["recorded"] == "no"  # nothing was sent: the connection was refused
    # Main answered "...could not be recorded (not published after 2 attempt(s):
    # EndpointConnectionError: Could not connect to the endpoint URL: ...)".
    assert "EndpointConnectionError" not in body["message"]
    assert "127.0.0.1" not in body["message"]


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
        runtime,
        classifier_endpoint=XGB,
        anomaly_endpoint=ANOMALY,
        model_version="m",
        csv_row=ULB.csv_row,
    )


ARN = "arn:aws:sts::123456789012:assumed-role/fraudit-api/session"


@pytest.mark.parametrize(
    ("behaviour", "expect"),
    [
        ({XGB: {"status": 500, "code": "InternalFailure"}}, "classifier endpoint answered an"),
        ({ANOMALY: {"status": 424, "code": "ModelError"}}, "anomaly detector endpoint answered"),
        (
            {XGB: {"status": 400, "code": "AccessDeniedException", "message": f"{ARN} denied"}},
            "classifier endpoint answered an error",
        ),
        ({ANOMALY: {"garbage": True}}, "answered something unusable"),
        ({XGB: {"hang": 1.5}}, "classifier endpoint did not answer in time"),
    ],
)
def test_endpoint_faults_are_503_and_nothing_is_published(bundle, behaviour, expect):
    """Main put AWS's own error text in the body (`...: AccessDeniedException: arn:aws:...`);
    the client now reads which model and what happened, the log keeps the rest."""
    with FaultModelServer(behaviour) as server:
        scorer = scorer_for(server, read_timeout=0.4)
        client = boto3.client("kinesis", region_name="us-east-1")
        with Stubber(client), Client(make_app(bundle, client, scorer=scorer)) as api:
            response = post(api, payload())  # a put_record would fail: none is stubbed
    assert response.status_code == 503
    assert response.json_body["error"] == "scoring_unavailable"
    assert expect in response.json_body["message"]
    assert "arn:aws" not in response.body.decode()
    assert "Exception" not in response.body.decode()


class StalledKinesis:
    """A Kinesis stand-in that accepts connections, reads the request and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


def test_a_stalled_stream_gets_the_documented_503_within_the_deadline(bundle):
    """Main: the publisher retried 5 x (connect 1 s + read 2 s) + backoff, past the Lambda's
    10 s, so API Gateway answered a bare 5xx while the event may have been on the stream."""
    stalled = StalledKinesis()
    deadline = 3.0
    client = aws_client(
        "kinesis",
        region="us-east-1",
        endpoint_url=stalled.url,
        config=client_config(connect_timeout=0.5, read_timeout=0.8, max_attempts=1),
    )
    app = make_app(
        bundle,
        client,
        max_attempts=20,
        attempt_timeout=1.3,
        sleep=time.sleep,
        api_deadline_seconds=deadline,
    )
    try:
        with Client(app) as api:
            started = time.monotonic()
            response = post(api, payload(transaction_id="tx-stalled"))
            took = time.monotonic() - started
    finally:
        stalled.close()
    assert response.status_code == 503
    assert took <= deadline
    body = response.json_body
    assert body["event_id"] == "tx-stalled"
    assert body["recorded"] == "unknown"  # the request was sent: it may be on the stream
    assert "may or may not be recorded" in body["message"]
    assert "same transaction_id" in body["message"]
    assert len(stalled.held) >= 2  # it did retry while the deadline allowed


class OneRowBroken:
    """The real models, except that one row's anomaly score comes back non-finite."""

    def __init__(self, inner, broken_amount: float) -> None:
        self.inner = inner
        self.broken_amount = broken_amount
        self.model_version = inner.model_version

    def score(self, rows, deadline=None):
        scores = self.inner.score(rows, deadline)
        return [
            Scores(s.fraud_proba, math.inf) if row[-1] == self.broken_amount else s
            for row, s in zip(rows, scores, strict=True)
        ]

    def explain(self, rows, deadline=None):
        return self.inner.explain(rows, deadline)

    def close(self) -> None:
        return None


def test_a_non_finite_model_output_is_a_503_for_that_item_only(bundle):
    """Main: one such item in a batch gave every item a 503 (and a single one a 500)."""
    items = [payload(i) for i in range(3)]
    broken = float(items[1]["data"].split(",")[-1])
    client = boto3.client("kinesis", region_name="us-east-1")
    scorer = OneRowBroken(InProcessScorer(bundle), broken)
    with Stubber(client) as stub, Client(make_app(bundle, client, scorer=scorer)) as api:
        stub.add_response("put_records", {"Records": [ok_record(1), ok_record(3)]})
        results = post(api, {"transactions": items}, "/predict/batch").json_body["results"]
        single = post(api, items[1])
    assert [r["status"] for r in results] == [200, 503, 200]
    assert results[1]["error"] == "scoring_unavailable"
    assert "non-finite" in results[1]["message"]
    assert single.status_code == 503


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
