from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from fraudit.contracts import PredictRequest, PredictResponse, ScoredEvent
from fraudit.schema_versions import SCHEMA_VERSION

pytestmark = pytest.mark.unit

FEATURES = ",".join(["0", *["0.5"] * 28, "12.5"])


def request(**metadata):
    base = {
        "timestamp": "2025-08-21T17:45:00Z",
        "user_id": "u_123",
        "source": "checkout",
        "device_info": {"device_type": "mobile", "os_version": "iOS 17", "app_version": "2.4.1"},
        "ip_address": "203.0.113.10",
        "geo": {
            "country": "fr",
            "region": "IDF",
            "city": "Paris",
            "latitude": 48.85,
            "longitude": 2.35,
        },
    }
    base.update(metadata)
    return {"metadata": base, "data": FEATURES}


def errors(payload):
    with pytest.raises(ValidationError) as info:
        PredictRequest.model_validate(payload)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in info.value.errors()}


def test_design_example_parses_and_normalises():
    parsed = PredictRequest.model_validate(request())
    assert parsed.metadata.geo.country == "FR"
    assert parsed.metadata.timestamp == datetime(2025, 8, 21, 17, 45, tzinfo=UTC)
    assert parsed.amount == 12.5
    assert len(parsed.data) == 30
    assert parsed.metadata.transaction_id is None


def test_json_array_features_and_offset_timestamp_as_utc():
    payload = request(timestamp="2025-08-21T19:45:00+02:00")
    payload["data"] = [0, *[0.5] * 28, 12.5]
    parsed = PredictRequest.model_validate(payload)
    assert parsed.metadata.timestamp.hour == 17
    assert parsed.metadata.timestamp.tzinfo == UTC


@pytest.mark.parametrize(
    "sent",
    ["2025-08-21T17:45:00", "2025-08-21 17:45:00Z", "2025-08-21", 1755798300, "1755798300"],
)
def test_timestamps_are_rfc3339_with_an_offset(sent):
    """The OpenAPI document says date-time (RFC 3339); main parsed all of these as UTC, so
    schemathesis found requests the document calls invalid answered with a 200."""
    assert "RFC 3339" in errors(request(timestamp=sent))["metadata.timestamp"]


@pytest.mark.parametrize("sent", [False, "12.5"])
def test_coordinates_are_json_numbers(sent):
    """Main took `false` as 0.0 (schemathesis ST201: a schema-violating request accepted)."""
    assert "metadata.geo.latitude" in errors(request(geo={"latitude": sent}))


def test_text_keeps_its_spaces():
    """Main stripped whitespace, so ` u1` passed the identifier pattern the document
    states; text is now taken as sent and judged as sent."""
    assert "metadata.user_id" in errors(request(user_id=" u1"))
    parsed = PredictRequest.model_validate(request(source=" web "))
    assert parsed.metadata.source == " web "


def test_every_bad_field_is_named():
    payload = request(
        user_id="", ip_address="999.1.1.1", geo={"country": "France", "latitude": 123}
    )
    payload["data"] = "1,2,3"
    found = errors(payload)
    assert "metadata.user_id" in found
    assert "metadata.ip_address" in found
    assert "metadata.geo.country" in found
    assert "metadata.geo.latitude" in found
    assert "expected 30 features" in found["data"]


def test_typo_at_top_level_is_refused_unknown_nested_keys_ignored():
    payload = request(shoe_size=44)
    assert PredictRequest.model_validate(payload)  # nested extras are tolerated
    payload["dat"] = FEATURES
    assert "dat" in errors(payload)


def test_transaction_id_is_a_safe_key():
    assert PredictRequest.model_validate(request(transaction_id="tx_1:a-b.c@d"))
    assert "metadata.transaction_id" in errors(request(transaction_id="bad id; drop"))


def test_response_and_event_carry_schema_version_and_serialise_utc():
    response = PredictResponse(
        event_id="e1",
        anomaly_detector={"score": 0.7},
        fraud_classifier={"pred_proba": 0.2, "prediction": 0},
        decision="approve",
        model_version="m",
        policy_version="p",
    )
    assert response.model_dump()["schema_version"] == SCHEMA_VERSION
    event = ScoredEvent(
        event_id="e1",
        timestamp="2025-08-21T19:45:00+02:00",
        scored_at="2025-08-21T17:45:01Z",
        user_id="u",
        source="checkout",
        amount=1.0,
        fraud_prediction=0,
        fraud_proba=0.1,
        anomaly_score=0.7,
        decision="review",
        model_version="m",
        policy_version="p",
    )
    wire = json.loads(event.model_dump_json())
    assert wire["timestamp"] == "2025-08-21T17:45:00Z"
    assert wire["schema_version"] == SCHEMA_VERSION


def test_event_readers_tolerate_unknown_fields():
    wire = {
        "event_id": "e",
        "timestamp": "2025-01-01T00:00:00Z",
        "scored_at": "2025-01-01T00:00:00Z",
        "user_id": "u",
        "source": "s",
        "amount": 1,
        "fraud_prediction": 1,
        "fraud_proba": 0.9,
        "anomaly_score": 3.0,
        "decision": "decline",
        "model_version": "m",
        "policy_version": "p",
        "added_in_v2": {"x": 1},
    }
    assert ScoredEvent.model_validate(wire).decision == "decline"
    with pytest.raises(ValidationError):
        ScoredEvent.model_validate({**wire, "decision": "maybe"})
