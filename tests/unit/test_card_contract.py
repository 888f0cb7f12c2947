"""The card-transaction contract (schema version 2): good bodies accepted, bad ones refused
with the field named, card numbers refused, and the record the feature engines get."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fraudit.card_numbers import luhn_valid
from fraudit.contracts import CardPredictRequest, ValidationClock
from fraudit.features.history import from_request

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
CLOCK = ValidationClock(NOW)


def body() -> dict:
    return {
        "metadata": {
            "transaction_id": "tx-card-1",
            "timestamp": "2026-12-02T17:59:00+01:00",
            "user_id": "u_123",
            "device_info": {"device_id": "dev-9"},
            "ip_address": "203.0.113.10",
        },
        "transaction": {
            "card_token": "card_zq22vr5w3e6k7c7r",
            "amount": 194.51,
            "merchant_id": "merchant_4711",
            "merchant_category": "shopping_net",
            "merchant_lat": 40.420453,
            "merchant_lon": -78.865012,
            "home_lat": 40.6153,
            "home_lon": -79.4545,
            "city_pop": 972,
            "date_of_birth": "1997-10-23",
            "gender": "F",
        },
    }


def fields_of(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in error["loc"]) for error in exc.errors()}


def test_a_good_card_transaction_becomes_the_engines_record():
    request = CardPredictRequest.model_validate(body(), context=CLOCK)
    record = from_request(request, "tx-card-1", arrival=7)
    assert record.card == "card_zq22vr5w3e6k7c7r"
    assert record.event_time == datetime(2026, 12, 2, 16, 59, tzinfo=UTC).timestamp()
    assert record.arrival == 7
    assert record.amount == 194.51
    assert record.merchant == "merchant_4711"
    assert record.category == "shopping_net"
    assert (record.home_lat, record.home_lon) == (40.6153, -79.4545)
    assert record.birth_date == date(1997, 10, 23)
    assert record.device == "dev-9"
    assert record.ip == "203.0.113.10"


def test_optional_parts_may_be_left_out():
    minimal = body()
    del minimal["transaction"]["gender"]
    del minimal["metadata"]["device_info"]
    del minimal["metadata"]["ip_address"]
    record = from_request(CardPredictRequest.model_validate(minimal, context=CLOCK), "t", 0)
    assert record.device is None
    assert record.ip is None


def _card_number() -> str:
    # Built here, not written down: no Luhn-valid number sits in a tracked file.
    stem = "4" + "1" * 14
    return next(stem + d for d in "0123456789" if luhn_valid(stem + d))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("transaction", "card_token"), "CARD_NUMBER"),
        (("transaction", "card_token"), "bad token with spaces"),
        (("transaction", "amount"), -1.0),
        (("transaction", "amount"), 1e12),
        (("transaction", "amount"), "12.50"),
        (("transaction", "amount"), True),
        (("transaction", "merchant_category"), "shopping"),
        (("transaction", "merchant_category"), 3),
        (("transaction", "merchant_lat"), 90.5),
        (("transaction", "home_lon"), -180.1),
        (("transaction", "home_lat"), "40.6"),
        (("transaction", "city_pop"), -5),
        (("transaction", "city_pop"), 12.5),
        (("transaction", "date_of_birth"), "23/10/1997"),
        (("transaction", "date_of_birth"), 877564800),
        (("transaction", "gender"), "female"),
        (("transaction", "merchant_id"), "m\u0000"),
        (("transaction", "surprise"), 1),
    ],
)
def test_bad_fields_are_refused_by_name(path, value):
    bad = copy.deepcopy(body())
    bad[path[0]][path[1]] = _card_number() if value == "CARD_NUMBER" else value
    with pytest.raises(ValidationError) as caught:
        CardPredictRequest.model_validate(bad, context=CLOCK)
    assert ".".join(path) in fields_of(caught.value)


def test_a_card_number_is_refused_with_a_message_to_send_a_token():
    bad = body()
    bad["transaction"]["card_token"] = _card_number()
    with pytest.raises(ValidationError, match="token"):
        CardPredictRequest.model_validate(bad, context=CLOCK)


def test_every_identifier_refuses_a_card_number():
    """Main accepted a card number as merchant_id or transaction_id (finding 7)."""
    for part, name in (("transaction", "merchant_id"), ("metadata", "transaction_id")):
        bad = body()
        bad[part][name] = _card_number()
        with pytest.raises(ValidationError, match="card number") as caught:
            CardPredictRequest.model_validate(bad, context=CLOCK)
        assert f"{part}.{name}" in fields_of(caught.value)


@pytest.mark.parametrize("amount", [5e-324, 1e-300, 0.009999, -0.0001, 1e11 + 1])
def test_an_amount_that_is_no_payment_is_refused(amount):
    """Main accepted 5e-324: the card's next amount-to-mean ratio was infinite, both card
    endpoints refused it and every later request on the card was a 503 (finding 4)."""
    bad = body()
    bad["transaction"]["amount"] = amount
    with pytest.raises(ValidationError) as caught:
        CardPredictRequest.model_validate(bad, context=CLOCK)
    assert "transaction.amount" in fields_of(caught.value)


@pytest.mark.parametrize("amount", [0, 0.0, 0.01, 1e11])
def test_an_account_check_and_the_bounds_are_accepted(amount):
    good = body()
    good["transaction"]["amount"] = amount
    parsed = CardPredictRequest.model_validate(good, context=CLOCK)
    assert parsed.transaction.amount == amount


_AMOUNT_SCHEMA = jsonschema.Draft202012Validator(
    CardPredictRequest.model_json_schema()["$defs"]["CardDetails"]["properties"]["amount"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=0, max_value=0.02)
    | st.sampled_from([0, 5e-324, 0.01, 0.00999, 1e11, 1e11 + 1])
)
def test_the_published_amount_schema_admits_exactly_what_is_accepted(amount):
    candidate = body()
    candidate["transaction"]["amount"] = amount
    try:
        CardPredictRequest.model_validate(candidate, context=CLOCK)
        accepted = True
    except ValidationError:
        accepted = False
    assert _AMOUNT_SCHEMA.is_valid(amount) == accepted, amount


def test_an_impossible_date_of_birth_is_refused():
    for born in ("2026-12-03", "1890-01-01"):
        bad = body()
        bad["transaction"]["date_of_birth"] = born
        with pytest.raises(ValidationError, match="date_of_birth"):
            CardPredictRequest.model_validate(bad, context=CLOCK)


def test_the_metadata_rules_apply_as_on_the_ulb_path():
    stale = body()
    stale["metadata"]["timestamp"] = (NOW - timedelta(days=8)).isoformat()
    with pytest.raises(ValidationError) as caught:
        CardPredictRequest.model_validate(stale, context=CLOCK)
    assert "metadata.timestamp" in fields_of(caught.value)
    zoned = body()
    zoned["metadata"]["ip_address"] = "fe80::1%eth0"
    with pytest.raises(ValidationError):
        CardPredictRequest.model_validate(zoned, context=CLOCK)


def test_the_schema_states_the_categories_and_the_token_rule():
    schema = CardPredictRequest.model_json_schema()
    details = schema["$defs"]["CardDetails"]["properties"]
    assert len(details["merchant_category"]["enum"]) == 14
    assert details["card_token"]["format"] == "not-a-card-number"
    assert details["date_of_birth"]["format"] == "date"
