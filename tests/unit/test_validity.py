"""The one validity rule, on the contracts: every hostile input issue 16 lists is refused
with a 400-style error naming its field (the failures quoted are today's main before the
change, from the app in process)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fraudit.contracts import PredictRequest, ValidationClock
from fraudit.ulb_vector import FeatureError, features_json_schema, parse_features, to_csv_row
from fraudit.validity import (
    DEFAULT_MAX_EVENT_AGE,
    MAX_CLOCK_SKEW,
    MAX_FEATURE_MAGNITUDE,
    TEXT_PATTERN,
    event_time_problem,
    normalise_ip,
    text_problem,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CLOCK = ValidationClock(NOW)
ROW = [0.0, *[0.1 * i for i in range(1, 29)], 149.62]
# Test card numbers (Luhn-valid), built at run time: no tracked file holds one as text.
VISA_TEST = "4" + "1" * 15
MASTERCARD_TEST = "5" * 4 + "5" * 4 + "5" * 4 + "4444"


def request(data: object = None, **metadata: object) -> dict:
    meta = {"timestamp": "2026-12-02T11:59:00Z", "user_id": "u_1", **metadata}
    return {"metadata": meta, "data": list(ROW) if data is None else data}


def refused(payload: dict, clock: ValidationClock = CLOCK) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        PredictRequest.model_validate(payload, context=clock)
    return {".".join(str(p) for p in e["loc"]): str(e["msg"]) for e in info.value.errors()}


def test_a_400_digit_integer_is_a_bad_field_not_a_crash():
    """Main: 500 internal_error (`OverflowError: int too large to convert to float`)."""
    found = refused(request(data=[json.loads("1" + "0" * 399), *ROW[1:]]))
    assert "too large" in found["data"]


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_offsets_at_the_date_limits_are_bad_fields(stamp):
    """Main: 500 internal_error (`OverflowError: date value out of range`)."""
    found = refused(request(timestamp=stamp))
    assert "representable" in found["metadata.timestamp"]


def test_huge_finite_features_are_refused_before_any_model_sees_them():
    """Main: 500 (`ValueError: scores must be finite`, the anomaly score overflowed)."""
    found = refused(request(data=[0.0, 1e160, *ROW[2:]]))
    assert "V1" in found["data"]
    assert "outside" in found["data"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ip_address", "fe80::1%eth0"),  # main: 200, then quarantined (ip_address)
        ("source", "check\x00out"),  # main: 200, then quarantined (NUL)
        ("source", "line\nbreak"),
        ("source", "\ud800"),  # an unpaired surrogate cannot be encoded as UTF-8
        ("user_id", VISA_TEST),  # main: 200, a card number in clear downstream
        ("user_id", " ".join(VISA_TEST[i : i + 4] for i in range(0, 16, 4))),
    ],
)
def test_text_that_the_stream_would_quarantine_is_refused(field, value):
    assert f"metadata.{field}" in refused(request(**{field: value}))


def test_no_identifier_may_be_a_card_number():
    """Main accepted a card number as transaction_id: it became the event_id, a Redis key
    and a log field (issue 28, finding 7)."""
    found = refused(request(device_info={"device_id": MASTERCARD_TEST}))
    assert "card number" in found["metadata.device_info.device_id"]
    assert "card number" in refused(request(transaction_id=VISA_TEST))["metadata.transaction_id"]
    # A digit string that fails the Luhn check is an ordinary id.
    not_a_pan = VISA_TEST[:-1] + str((int(VISA_TEST[-1]) + 1) % 10)
    parsed = PredictRequest.model_validate(request(transaction_id=not_a_pan), context=CLOCK)
    assert parsed.metadata.transaction_id == not_a_pan


def test_an_amount_the_table_cannot_hold_is_refused():
    """Main: 200 for Amount 1e13, then quarantined (amount out of range)."""
    assert "Amount" in refused(request(data=[*ROW[:-1], 1e13]))["data"]


@pytest.mark.parametrize(
    ("stamp", "problem"),
    [
        ("1970-01-01T00:00:00Z", "days old"),  # main: 200, invisible downstream
        ("9999-12-31T00:00:00Z", "ahead"),  # main: 200, then quarantined
        ("2026-12-02T12:05:01Z", "ahead"),
        ("2026-11-25T11:59:59Z", "days old"),
    ],
)
def test_timestamps_outside_the_window_are_refused(stamp, problem):
    assert problem in refused(request(timestamp=stamp))["metadata.timestamp"]


def test_the_window_edges_are_accepted_and_the_age_can_be_raised_for_replays():
    for stamp in ("2026-12-02T12:05:00Z", "2026-11-25T12:00:00Z"):
        PredictRequest.model_validate(request(timestamp=stamp), context=CLOCK)
    replay = ValidationClock(NOW, max_event_age=timedelta(days=3650))
    PredictRequest.model_validate(request(timestamp="2019-01-01T00:00:00Z"), context=replay)


def test_the_window_is_judged_against_the_given_instant_only():
    event = NOW - timedelta(days=30)
    assert event_time_problem(event, NOW, DEFAULT_MAX_EVENT_AGE)
    assert event_time_problem(event, event + timedelta(days=1), DEFAULT_MAX_EVENT_AGE) is None
    assert event_time_problem(NOW + MAX_CLOCK_SKEW, NOW, DEFAULT_MAX_EVENT_AGE) is None


def test_text_and_ip_rules():
    assert text_problem("Café ☕ 東京") is None
    assert text_problem("tab\there")
    assert text_problem("c1\x85control")
    assert normalise_ip("2001:DB8::1") == "2001:db8::1"
    # Main: two IPs, two online-store keys, for one IPv4 client seen by a dual-stack socket.
    assert normalise_ip("::ffff:203.0.113.10") == "203.0.113.10"
    assert normalise_ip("::FFFF:CB00:710A") == "203.0.113.10"
    assert normalise_ip("::203.0.113.10") == "::cb00:710a"  # IPv4-compatible: deprecated
    with pytest.raises(ValueError, match="zone id"):
        normalise_ip("fe80::1%1")


# The OpenAPI schema of `data` is the truth: a value the schema admits is accepted, and a
# value it refuses is refused (checked against an independent JSON Schema validator).
_VALIDATOR = jsonschema.Draft202012Validator(features_json_schema())


def _accepted(value: object) -> bool:
    try:
        parse_features(value)  # type: ignore[arg-type]
    except FeatureError:
        return False
    return True


_numbers = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=-2 * MAX_FEATURE_MAGNITUDE, max_value=2 * MAX_FEATURE_MAGNITUDE)
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.sampled_from([0, -0.0, MAX_FEATURE_MAGNITUDE, -MAX_FEATURE_MAGNITUDE, 1e-320])
)
_cells = (
    _numbers.map(lambda v: repr(float(v)) if not isinstance(v, int) else str(v))
    | st.from_regex(r"\A ?-?[0-9]{1,12}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})? ?\Z")
    | st.sampled_from(["", "nan", "inf", "1_0", "+1", ".5", "5.", "0x1", "1e5", " 1 "])
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_numbers | st.booleans() | st.text(max_size=3), min_size=28, max_size=31)
    | st.lists(_cells, min_size=29, max_size=31).map(",".join)
)
def test_the_published_schema_admits_exactly_what_is_accepted(value):
    assert _VALIDATOR.is_valid(value) == _accepted(value), value


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-1e8, max_value=1e8), min_size=30, max_size=30))
def test_every_in_bounds_vector_round_trips_through_its_csv_form(values):
    values[0], values[-1] = abs(values[0]), abs(values[-1])
    assert parse_features(to_csv_row(values)) == tuple(values)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12))
def test_the_published_text_pattern_is_the_text_rule(value):
    assert (re.fullmatch(TEXT_PATTERN, value) is not None) == (text_problem(value) is None)


_TIMESTAMP_FORMAT = jsonschema.Draft202012Validator(
    {"type": "string", "format": "date-time"},
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(timezones=st.timezones()).map(datetime.isoformat)
    | st.datetimes().map(datetime.isoformat)
    | st.from_regex(
        r"\A\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?\Z"
    )
    | st.integers()
)
def test_an_rfc3339_timestamp_is_what_the_date_time_format_admits(value):
    """The document says date-time; an independent checker of that format and the contract
    agree on every text, calendar errors (month 13, 24:00) included."""
    try:
        PredictRequest.model_validate(request(timestamp=value))
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == _TIMESTAMP_FORMAT.is_valid(value), value
