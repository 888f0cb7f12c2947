"""Property-based: whatever arrives, the API answers without a 5xx, and every 4xx says why."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from tests.support.api import kinesis_stream, make_app, payload

pytestmark = pytest.mark.integration

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


def mutated_payloads():
    """Valid requests with one part replaced by something arbitrary."""

    def mutate(base, path, value):
        body = json.loads(json.dumps(base))
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return body

    paths = st.sampled_from(
        [
            ("data",),
            ("metadata",),
            ("metadata", "timestamp"),
            ("metadata", "user_id"),
            ("metadata", "geo"),
            ("metadata", "ip_address"),
            ("metadata", "transaction_id"),
            ("metadata", "device_info"),
        ]
    )
    return st.builds(mutate, st.just(payload(4)), paths, json_values)


@pytest.fixture(scope="module")
def api(bundle):
    with mock_aws(), Client(make_app(bundle, kinesis_stream())) as client:
        yield client


def check(response):
    assert response.status_code < 500, response.body
    if response.status_code >= 400:
        body = response.json_body
        assert body["error"], body
        assert body["message"], body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values | mutated_payloads(), path=st.sampled_from(["/predict", "/predict/batch"]))
def test_arbitrary_json_never_5xx(api, body, path):
    check(api.http.post(path, headers={"Content-Type": "application/json"}, body=json.dumps(body)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/json; charset=utf-8", "text/csv"]
    ),
)
def test_malformed_bodies_never_5xx(api, raw, content_type):
    check(api.http.post("/predict", headers={"Content-Type": content_type}, body=raw))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(json_values | mutated_payloads(), min_size=1, max_size=8))
def test_batches_of_anything_answer_per_item(api, items):
    response = api.http.post(
        "/predict/batch",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"transactions": items}),
    )
    check(response)
    results = response.json_body["results"]
    assert len(results) == len(items)
    for result in results:
        # 409: the mutated bodies share payload(4)'s transaction_id, sent before with
        # another body.
        assert result["status"] in (200, 400, 409)
        if result["status"] != 200:
            assert result["message"]
            assert result["error"]
