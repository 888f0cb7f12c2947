"""Spark schemas of the stream: the raw record our sources produce and the event inside.
Works on pyspark 3.5 (Glue 5) and 4.x."""

from __future__ import annotations

from pyspark.sql.types import (
    BinaryType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fraudit.contracts import ScoredEvent

# Schema version 2 (card transactions) carries these as well (fraudit.contracts.CardEvent).
CORRUPT_COLUMN = "_corrupt_record"

# What a source hands the transform, one row per Kinesis record.
RAW_RECORD_SCHEMA = StructType(
    [
        StructField("data", BinaryType(), True),
        StructField("shard_id", StringType(), False),
        StructField("sequence_number", StringType(), False),
        StructField("arrival_time", TimestampType(), True),
    ]
)

# The scored event (fraudit.contracts.ScoredEvent). Timestamps are read as strings and
# parsed explicitly so a bad one is reported, not silently nulled. Unknown fields are
# ignored: consumers tolerate them.
EVENT_SCHEMA = StructType(
    [
        StructField("schema_version", IntegerType()),
        StructField("event_id", StringType()),
        StructField("timestamp", StringType()),
        StructField("scored_at", StringType()),
        StructField("user_id", StringType()),
        StructField("source", StringType()),
        StructField("amount", DoubleType()),
        StructField("fraud_prediction", IntegerType()),
        StructField("fraud_proba", DoubleType()),
        StructField("anomaly_score", DoubleType()),
        StructField("decision", StringType()),
        StructField("model_version", StringType()),
        StructField("policy_version", StringType()),
        StructField("ip_address", StringType()),
        StructField(
            "device_info",
            StructType(
                [
                    StructField("device_id", StringType()),
                    StructField("device_type", StringType()),
                    StructField("os_version", StringType()),
                    StructField("app_version", StringType()),
                ]
            ),
        ),
        StructField(
            "geo",
            StructType(
                [
                    StructField("country", StringType()),
                    StructField("region", StringType()),
                    StructField("city", StringType()),
                    StructField("latitude", DoubleType()),
                    StructField("longitude", DoubleType()),
                ]
            ),
        ),
        StructField(
            "card",
            StructType(
                [
                    StructField("card_token", StringType()),
                    StructField("merchant_id", StringType()),
                    StructField("merchant_category", StringType()),
                    StructField("merchant_lat", DoubleType()),
                    StructField("merchant_lon", DoubleType()),
                    StructField("store_arrival", LongType()),
                    StructField("store_arrivals", MapType(StringType(), LongType())),
                ]
            ),
        ),
        StructField("features", MapType(StringType(), DoubleType(), valueContainsNull=True)),
        StructField("feature_set_version", StringType()),
        StructField(CORRUPT_COLUMN, StringType()),
    ]
)
# Required of a card transaction's event, beyond REQUIRED_FIELDS.
CARD_REQUIRED_FIELDS = (
    ("card",),
    ("card", "card_token"),
    ("card", "merchant_id"),
    ("card", "merchant_category"),
    ("card", "store_arrival"),
    ("features",),
    ("feature_set_version",),
)
# What an event must carry: the contract's required fields (every producer's event is a
# ScoredEvent; the stream quarantines one that lacks any).
REQUIRED_FIELDS = tuple(
    name for name, field in ScoredEvent.model_fields.items() if field.is_required()
)


def glue_event_ddl() -> str:
    """EVENT_SCHEMA as the DDL string Glue's Kinesis source takes in its `schema` option."""
    return ", ".join(
        f"`{field.name}` {field.dataType.simpleString()}"
        for field in EVENT_SCHEMA.fields
        if field.name != CORRUPT_COLUMN
    )
