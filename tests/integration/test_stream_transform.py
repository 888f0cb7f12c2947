from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fraudit.stream.transform import rejected_rows, transform, valid_rows
from tests.support.stream_records import (
    card_event,
    card_event_record,
    event,
    event_record,
    raw_frame,
    record,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
]  # a SparkSession is started once for the session


def reasons(spark, records):
    out = rejected_rows(transform(raw_frame(spark, records))).collect()
    return {r["source_position"].split(":")[1][-3:].lstrip("0") or "0": r["reason"] for r in out}


def test_a_valid_event_is_flattened_and_derived(spark):
    (row,) = valid_rows(transform(raw_frame(spark, [event_record(4)]))).collect()
    e = event(4)
    assert row["event_id"] == "ev-4"
    assert row["user_id"] == e.user_id
    assert datetime.fromtimestamp(row["event_time_us"] / 1e6, UTC) == e.timestamp
    minute = datetime.fromtimestamp(row["event_minute_us"] / 1e6, UTC)
    assert minute == e.timestamp.replace(second=0, microsecond=0)
    assert row["country"] == "US"
    assert row["device_type"] == "mobile"
    assert row["amount"] == e.amount
    assert row["decision"] == e.decision
    assert row["source_position"] == "shardId-000000000000:49000000004"
    assert len(row["payload_hash"]) == 64


def test_timestamps_with_offsets_become_utc(spark):
    raw = (
        event_record(1)[0].decode().replace('"2025-08-21T17:45:37Z"', '"2025-08-21T19:45:37+02:00"')
    )
    (row,) = valid_rows(transform(raw_frame(spark, [record(raw, 1)]))).collect()
    assert datetime.fromtimestamp(row["event_time_us"] / 1e6, UTC) == event(1).timestamp


def test_lowercase_country_is_normalised(spark):
    (row,) = valid_rows(transform(raw_frame(spark, [event_record(0)]))).collect()
    assert row["country"] == "FR"


def test_every_bad_record_is_kept_with_its_reason(spark):
    good = event_record(1)[0].decode()
    records = [
        record(b"{not json", 101),
        record(b"", 102),
        record(None, 103),
        record(good.replace('"schema_version":1', '"schema_version":7'), 104),
        record(good.replace('"user_id":"u_1",', ""), 105),
        record(good.replace('"fraud_proba":0.15', '"fraud_proba":1.5'), 106),
        record(good.replace('"decision":"review"', '"decision":"maybe"'), 107),
        record(good.replace('"2025-08-21T17:45:37Z"', '"yesterday"'), 108),
        record(good.replace('"amount":11.25', '"amount":-3'), 109),
        record(good.replace('"amount":11.25', '"amount":NaN'), 110),
        record(good.replace('"', "'"), 111),
        record("[1, 2, 3]", 112),
        record(good.replace('"ip_address":"203.0.113.1"', '"ip_address":"999.1.1.1"'), 113),
        record(good.replace('"user_id":"u_1"', '"user_id":"u_\\u0000"'), 114),
        record(good, 115),
    ]
    found = reasons(spark, records)
    assert found["101"].startswith("unparseable JSON")
    assert found["102"] == found["103"] == "empty record"
    assert found["104"] == "unknown schema_version 7"
    assert found["105"] == "missing required field: user_id"
    assert found["106"] == "out of range: fraud_proba = 1.5"
    assert found["107"] == "out of range: decision = maybe"
    assert found["108"] == "timestamp is not an ISO-8601 time"
    assert found["109"] == "out of range: amount = -3.0"
    assert found["110"].startswith("unparseable JSON")  # NaN is not JSON
    assert found["111"].startswith("unparseable JSON")  # nor are single quotes
    assert found["112"].startswith("unparseable JSON")
    assert found["113"] == "out of range: ip_address = 999.1.1.1"
    assert found["114"] == "contains a NUL character"
    assert "115" not in found
    assert len(found) == 14


def test_unknown_fields_are_tolerated(spark):
    raw = event_record(2)[0].decode().replace("{", '{"added_in_v2": {"x": [1]},', 1)
    assert len(valid_rows(transform(raw_frame(spark, [record(raw, 2)]))).collect()) == 1


def test_the_cheap_guards_keep_every_reason(spark):
    """The validation tests the first byte and looks for "\\u" before trimming, scanning
    for escapes or counting characters: records on each side of those guards."""
    good = event_record(1)[0].decode()
    records = [
        record("   ", 201),  # spaces only
        record(" \n\t" + good, 202),  # whitespace, then JSON
        record(good.replace('"u_1"', '"u_\x00"'), 203),  # a raw NUL byte
        record(good.replace('"u_1"', '"u_\\ud800"'), 204),  # a lone surrogate escape
        record(good.replace('"u_1"', '"u_\\u00e9"'), 205),  # a harmless escape
        record(good.replace('"u_1"', '"' + "é" * 256 + '"'), 206),  # 256 chars, 512 bytes
        record(good.replace('"u_1"', '"' + "u" * 257 + '"'), 207),  # 257 chars
        record(good.replace('"ev-1"', '""'), 208),  # empty event_id
        record('"just a string"', 209),
    ]
    found = reasons(spark, records)
    assert found.pop("201") == "empty record"
    assert found.pop("203") == "contains a NUL character"
    assert found.pop("204") == "contains a surrogate escape (\\uD800-DFFF)"
    assert found.pop("207") == "out of range: user_id length"
    assert found.pop("208") == "out of range: event_id length"
    assert found.pop("209").startswith("unparseable JSON")
    assert found == {}  # 202, 205 and 206 load


def test_a_card_event_keeps_its_feature_snapshot_and_category(spark):
    (row,) = valid_rows(transform(raw_frame(spark, [card_event_record(3)]))).collect()
    sent = card_event(3)
    assert row["schema_version"] == 2
    assert row["merchant_category"] == sent.card.merchant_category
    assert row["feature_set_version"] == sent.feature_set_version
    snapshot = json.loads(row["features"])
    assert set(snapshot) == set(sent.features)
    for name, value in sent.features.items():
        assert snapshot[name] == value  # nulls stay null, doubles round-trip exactly
    (ulb,) = valid_rows(transform(raw_frame(spark, [event_record(4)]))).collect()
    assert ulb["features"] is None
    assert ulb["merchant_category"] is None


def test_a_card_event_is_placed_at_its_merchant_unless_the_client_says_where(spark):
    """Main left card events without a place: the dashboard's map had no card points."""
    records = [
        card_event_record(3, geo={"country": "US"}),
        card_event_record(4, geo=None),
        card_event_record(5),  # the client's own latitude and longitude win
    ]
    rows = {
        r["event_id"][-1]: r for r in valid_rows(transform(raw_frame(spark, records))).collect()
    }
    assert (rows["3"]["latitude"], rows["3"]["longitude"]) == (40.5, -74.25)
    assert rows["3"]["country"] == "US"
    assert (rows["4"]["latitude"], rows["4"]["longitude"]) == (40.5, -74.25)
    assert rows["4"]["country"] is None
    assert (rows["5"]["latitude"], rows["5"]["longitude"]) == (48.85, 2.35)
    (ulb,) = valid_rows(transform(raw_frame(spark, [event_record(6, geo=None)]))).collect()
    assert ulb["latitude"] is None


def test_a_card_event_without_its_card_details_or_features_is_rejected(spark):
    bad = [
        card_event_record(1, features=None),
        card_event_record(2, card=None),
        card_event_record(3, feature_set_version=None),
    ]
    assert reasons(spark, bad) == {
        "1": "missing required field: features",
        "2": "missing required field: card",
        "3": "missing required field: feature_set_version",
    }
