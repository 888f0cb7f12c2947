from __future__ import annotations

import http.client
import json
from urllib.parse import urlparse

import numpy as np
import pytest
from botocore.exceptions import ClientError

from fraudit.data.creditcard import load_creditcard
from fraudit.families.cards import CARDS
from fraudit.families.ulb import ULB
from fraudit.models.classifier import predict
from fraudit.settings import Settings
from fraudit.ulb_vector import to_csv_row
from tests.support.processes import runtime_client

pytestmark = pytest.mark.integration

DEFAULTS = Settings(_env_file=None)
CLASSIFIER, ANOMALY = (
    DEFAULTS.family(ULB).classifier_endpoint,
    DEFAULTS.family(ULB).anomaly_endpoint,
)


@pytest.fixture(scope="module")
def rows(dev_csv):
    data = load_creditcard(dev_csv)
    frauds = data.X[data.y == 1][:3]
    return np.vstack([data.X[:7], frauds])


@pytest.fixture(scope="module")
def client(model_server):
    return runtime_client(model_server)


def invoke(client, endpoint, rows, accept="text/csv"):
    body = "\n".join(to_csv_row(r) for r in np.atleast_2d(rows))
    response = client.invoke_endpoint(
        EndpointName=endpoint, Body=body.encode(), ContentType="text/csv", Accept=accept
    )
    return response, response["Body"].read().decode()


def test_classifier_single_row_equals_in_process_prediction(client, rows, bundle):
    response, body = invoke(client, CLASSIFIER, rows[0])
    assert response["ContentType"] == "text/csv"
    assert float(body) == pytest.approx(float(predict(bundle.classifier, rows[:1])[0]), abs=1e-7)


def test_classifier_many_rows_text_and_json(client, rows, bundle):
    _, body = invoke(client, CLASSIFIER, rows)
    got = [float(v) for v in body.splitlines()]
    assert got == pytest.approx(predict(bundle.classifier, rows).tolist(), abs=1e-7)
    assert max(got[-3:]) > 0.5 > max(got[:7])  # the frauds stand out
    _, body = invoke(client, CLASSIFIER, rows, accept="application/json")
    assert [p["score"] for p in json.loads(body)["predictions"]] == pytest.approx(got)


def test_anomaly_answers_like_random_cut_forest(client, rows, bundle):
    response, body = invoke(client, ANOMALY, rows, accept="application/json")
    assert response["ContentType"] == "application/json"
    scores = [s["score"] for s in json.loads(body)["scores"]]
    assert scores == pytest.approx(bundle.anomaly.score(rows).tolist())
    assert len(scores) == len(rows)


def test_bad_cell_is_a_400_naming_row_and_column(client, rows):
    lines = [to_csv_row(r) for r in rows[:3]]
    cells = lines[1].split(",")
    cells[6] = "NaN"
    lines[1] = ",".join(cells)
    with pytest.raises(ClientError) as info:
        client.invoke_endpoint(
            EndpointName=CLASSIFIER, Body="\n".join(lines).encode(), ContentType="text/csv"
        )
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "ModelError"
    assert "row 2, position 7 (V6)" in error["Error"]["Message"]


def test_wrong_column_count_unknown_endpoint_and_content_type(client, rows):
    with pytest.raises(ClientError, match="expected 30 columns, got 29"):
        client.invoke_endpoint(
            EndpointName=ANOMALY, Body=to_csv_row(rows[0][:29]).encode(), ContentType="text/csv"
        )
    with pytest.raises(ClientError) as info:
        client.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"1", ContentType="text/csv")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "no-such-endpoint not found" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        client.invoke_endpoint(
            EndpointName=CLASSIFIER, Body=b'{"a": 1}', ContentType="application/json"
        )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 415


def test_keep_alive_connection_survives_errors_and_oversized_bodies(model_server, rows):
    url = urlparse(model_server)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    good = to_csv_row(rows[0]).encode()
    for body, ctype, status in (
        (good, "text/csv", 200),
        (b"x", "text/csv", 400),
        (b"{}", "application/json", 415),
        (good, "text/csv", 200),
    ):
        conn.request("POST", f"/endpoints/{ANOMALY}/invocations", body, {"Content-Type": ctype})
        response = conn.getresponse()
        response.read()
        assert response.status == status
    conn.request("POST", "/invocations", b"0," * 600_000, {"Content-Type": "text/csv"})
    response = conn.getresponse()
    assert response.status == 413
    assert b"limit" in response.read()
    conn.request("POST", f"/endpoints/{CLASSIFIER}/invocations", good, {"Content-Type": "text/csv"})
    assert conn.getresponse().status == 200  # same connection, still in step
    conn.close()


def test_ping_and_container_invocations_path(model_server, rows):
    url = urlparse(model_server)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    conn.request("GET", "/ping")
    ping = json.loads(conn.getresponse().read())
    assert ping["status"] == "ok"
    # Both families: the session's model folder holds a card model too.
    assert set(ping["endpoints"]) == {
        CLASSIFIER,
        ANOMALY,
        DEFAULTS.family(CARDS).classifier_endpoint,
        DEFAULTS.family(CARDS).anomaly_endpoint,
    }
    conn.request("POST", "/invocations", to_csv_row(rows[0]).encode(), {"Content-Type": "text/csv"})
    response = conn.getresponse()
    assert response.status == 200
    assert 0 <= float(response.read()) <= 1
