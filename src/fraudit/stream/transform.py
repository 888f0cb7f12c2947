"""Pure DataFrame -> DataFrame: parse, validate, flatten and derive. No I/O, no UDFs
(column expressions only, so it runs the same on pyspark 3.5 and 4.x and stays in the JVM).

`transform(raw)` keeps every input row: valid rows have `reject_reason` null, the others say
why they cannot be loaded. Nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraudit.decisions import DECISIONS
from fraudit.labels.contract import LABEL_RECORD_TYPE
from fraudit.schema_versions import CARD_SCHEMA_VERSION, SUPPORTED_SCHEMA_VERSIONS
from fraudit.stream.schema import (
    CARD_REQUIRED_FIELDS,
    CORRUPT_COLUMN,
    EVENT_SCHEMA,
    REQUIRED_FIELDS,
)
from fraudit.validity import (
    COUNTRY_PATTERN,
    IPV4_PATTERN,
    IPV6_PATTERN,
    LATITUDE_LIMIT,
    LONGITUDE_LIMIT,
    MAX_AMOUNT,
    MAX_CLOCK_SKEW,
    MAX_EVENT_AGE_LIMIT,
    PLACE_TEXT_MAX_LENGTH,
    SHORT_TEXT_MAX_LENGTH,
    STREAM_TEXT_MAX_LENGTH,
)

# Text fields of the event and their length bounds (fraudit.validity, as the API checks;
# identifiers keep the stream's wider bound so that other producers' ids still load).
TEXT_LIMITS: dict[tuple[str, ...], int] = {
    ("event_id",): STREAM_TEXT_MAX_LENGTH,
    ("user_id",): STREAM_TEXT_MAX_LENGTH,
    ("source",): SHORT_TEXT_MAX_LENGTH,
    ("model_version",): STREAM_TEXT_MAX_LENGTH,
    ("policy_version",): STREAM_TEXT_MAX_LENGTH,
    ("device_info", "device_id"): STREAM_TEXT_MAX_LENGTH,
    ("device_info", "device_type"): SHORT_TEXT_MAX_LENGTH,
    ("device_info", "os_version"): SHORT_TEXT_MAX_LENGTH,
    ("device_info", "app_version"): SHORT_TEXT_MAX_LENGTH,
    ("geo", "region"): PLACE_TEXT_MAX_LENGTH,
    ("geo", "city"): PLACE_TEXT_MAX_LENGTH,
    ("card", "card_token"): STREAM_TEXT_MAX_LENGTH,
    ("card", "merchant_id"): STREAM_TEXT_MAX_LENGTH,
    ("card", "merchant_category"): SHORT_TEXT_MAX_LENGTH,
    ("feature_set_version",): SHORT_TEXT_MAX_LENGTH,
}


def _first_failure(checks: list[tuple[Column, Column | str]]) -> Column:
    """The reason of the first failing check, or null when all pass."""
    expression: Column | None = None
    for failed, reason in checks:
        reason_col = reason if isinstance(reason, Column) else F.lit(reason)
        expression = (
            F.when(failed, reason_col)
            if expression is None
            else expression.when(failed, reason_col)
        )
    none = F.lit(None).cast("string")
    return none if expression is None else expression.otherwise(none)


def _out_of_range(name: str, value: Column) -> Column:
    return F.concat(F.lit(f"out of range: {name} = "), value.cast("string"))


def _interval(seconds: float) -> Column:
    return F.expr(f"INTERVAL {int(seconds)} SECONDS")


def _longer_than(text: Column, limit: int) -> Column:
    """length(text) > limit, counting characters only when the bytes (known without a scan)
    exceed the limit: a string has no more characters than bytes."""
    return (F.octet_length(text) > limit) & (F.length(text) > limit)


def _field(event: Column, path: tuple[str, ...]) -> Column:
    column = event
    for part in path:
        column = column[part]
    return column


def _expressions(build: Callable[[], list[Column]]) -> list[Column]:
    """Column expressions are built once per SparkContext and reused by every batch:
    building them takes hundreds of JVM round trips (docs/STREAMING.md, "How the local
    session is set up"), applying them one projection."""
    from pyspark import SparkContext

    key = (build.__name__, id(SparkContext._active_spark_context))
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


_CACHE: dict[tuple[str, int], list[Column]] = {}


def _parse_columns() -> list[Column]:
    text = F.col("data").cast("string")
    return [
        text.alias("raw"),
        F.from_json(
            text,
            EVENT_SCHEMA,
            {
                "mode": "PERMISSIVE",
                "columnNameOfCorruptRecord": CORRUPT_COLUMN,
                # Strict JSON, as PostgreSQL's jsonb reads it: a record Spark accepts but the
                # database refuses would otherwise fail its whole batch.
                "allowSingleQuotes": "false",
                "allowNonNumericNumbers": "false",
            },
        ).alias("event"),
        F.concat_ws(":", F.col("shard_id"), F.col("sequence_number")).alias("source_position"),
    ]


def parse(raw: DataFrame) -> DataFrame:
    """Decode the record, parse its JSON, and keep where it came from."""
    return raw.select("*", *_expressions(_parse_columns))


def _validate_columns() -> list[Column]:
    e = F.col("event")
    # try_: under ANSI mode (Spark 4 default) a malformed time must not fail the batch.
    event_time = F.try_to_timestamp(e["timestamp"])
    scored_at = F.try_to_timestamp(e["scored_at"])
    raw = F.col("raw")
    # Cheap tests first: nearly every record starts with "{" and has no "\u" escape, so
    # the trim, the escape scans and the regular expressions (each decodes the whole
    # record into a Java string) run only for the few that do not.
    opens_object, escaped = raw.startswith("{"), raw.contains("\\u")
    checks: list[tuple[Column, Column | str]] = [
        (raw.isNull() | (~opens_object & (F.trim(raw) == "")), "empty record"),
        (raw.contains("\u0000") | (escaped & raw.contains("\\u0000")), "contains a NUL character"),
        (escaped & raw.rlike(r"\\u[dD][89abAB]"), "contains a surrogate escape (\\uD800-DFFF)"),
        (
            e.isNull() | e[CORRUPT_COLUMN].isNotNull() | ~(opens_object | raw.rlike(r"^\s*\{")),
            "unparseable JSON: not a JSON object",
        ),
    ]
    # A label (fraudit.labels) shares the stream with the events: it passes the checks of
    # any record above here, and its contract is checked where it is loaded.
    record_checks = list(checks)
    checks += [
        (e["schema_version"].isNull(), "missing required field: schema_version"),
        (
            ~e["schema_version"].isin(*SUPPORTED_SCHEMA_VERSIONS),
            F.concat(F.lit("unknown schema_version "), e["schema_version"].cast("string")),
        ),
    ]
    checks += [(e[name].isNull(), f"missing required field: {name}") for name in REQUIRED_FIELDS]
    card = e["schema_version"] == CARD_SCHEMA_VERSION
    checks += [
        (card & _field(e, path).isNull(), f"missing required field: {'.'.join(path)}")
        for path in CARD_REQUIRED_FIELDS
    ]
    checks += [
        (F.octet_length(e["event_id"]) == 0, "out of range: event_id length"),
        (event_time.isNull(), "timestamp is not an ISO-8601 time"),
        (scored_at.isNull(), "scored_at is not an ISO-8601 time"),
        (
            event_time > scored_at + _interval(MAX_CLOCK_SKEW.total_seconds()),
            "out of range: timestamp is ahead of scored_at by more than the clock skew",
        ),
        (
            event_time < scored_at - _interval(MAX_EVENT_AGE_LIMIT.total_seconds()),
            "out of range: timestamp is older than the event-age limit",
        ),
        (
            (e["amount"] < 0) | (e["amount"] > MAX_AMOUNT) | F.isnan(e["amount"]),
            _out_of_range("amount", e["amount"]),
        ),
        (
            ~e["fraud_prediction"].isin(0, 1),
            _out_of_range("fraud_prediction", e["fraud_prediction"]),
        ),
        (
            (e["fraud_proba"] < 0) | (e["fraud_proba"] > 1) | F.isnan(e["fraud_proba"]),
            _out_of_range("fraud_proba", e["fraud_proba"]),
        ),
        (
            F.isnan(e["anomaly_score"]) | (F.abs(e["anomaly_score"]) == float("inf")),
            _out_of_range("anomaly_score", e["anomaly_score"]),
        ),
        (~e["decision"].isin(*DECISIONS), _out_of_range("decision", e["decision"])),
        (
            e["geo"]["country"].isNotNull() & ~e["geo"]["country"].rlike(COUNTRY_PATTERN),
            _out_of_range("geo.country", e["geo"]["country"]),
        ),
        (
            (F.abs(e["geo"]["latitude"]) > LATITUDE_LIMIT)
            | (F.abs(e["geo"]["longitude"]) > LONGITUDE_LIMIT),
            "out of range: geo latitude/longitude",
        ),
        (
            e["ip_address"].isNotNull()
            & ~e["ip_address"].rlike(IPV4_PATTERN)
            & ~(e["ip_address"].contains(":") & e["ip_address"].rlike(IPV6_PATTERN)),
            _out_of_range("ip_address", e["ip_address"]),
        ),
    ]
    for path, limit in TEXT_LIMITS.items():
        name = ".".join(path)
        checks.append((_longer_than(_field(e, path), limit), f"out of range: {name} length"))
    record_type = F.get_json_object(raw, "$.record_type")
    reject_reason = (
        F.when(record_type.isNull(), _first_failure(checks))
        .when(record_type == LABEL_RECORD_TYPE, _first_failure(record_checks))
        .otherwise(F.concat(F.lit("unknown record_type "), F.substring(record_type, 1, 64)))
    )
    return [
        event_time.alias("event_time"),
        scored_at.alias("scored_at_ts"),
        record_type.alias("record_type"),
        reject_reason.alias("reject_reason"),
    ]


def validate(parsed: DataFrame) -> DataFrame:
    return parsed.select("*", *_expressions(_validate_columns))


def flatten(validated: DataFrame) -> DataFrame:
    """The columns of fraud_predictions (timestamps as UTC epoch microseconds, so no
    process time zone can shift them on the way to the database)."""
    return validated.select(*_expressions(_flatten_columns))


def _json_object(path: str) -> Column:
    text = F.get_json_object(F.col("raw"), path)
    return F.when(text.startswith("{"), text)


def _flatten_columns() -> list[Column]:
    e = F.col("event")
    return [
        e["event_id"].alias("event_id"),
        e["schema_version"].alias("schema_version"),
        F.unix_micros(F.col("event_time")).alias("event_time_us"),
        F.unix_micros(F.col("scored_at_ts")).alias("scored_at_us"),
        F.unix_micros(F.date_trunc("minute", F.col("event_time"))).alias("event_minute_us"),
        e["user_id"].alias("user_id"),
        e["source"].alias("source"),
        F.round(e["amount"], 2).alias("amount"),
        e["fraud_prediction"].alias("fraud_prediction"),
        e["fraud_proba"].alias("fraud_proba"),
        e["anomaly_score"].alias("anomaly_score"),
        e["decision"].alias("decision"),
        e["model_version"].alias("model_version"),
        e["policy_version"].alias("policy_version"),
        e["ip_address"].alias("ip_address"),
        e["device_info"]["device_id"].alias("device_id"),
        e["device_info"]["device_type"].alias("device_type"),
        e["device_info"]["os_version"].alias("os_version"),
        e["device_info"]["app_version"].alias("app_version"),
        F.upper(e["geo"]["country"]).alias("country"),
        e["geo"]["region"].alias("region"),
        e["geo"]["city"].alias("city"),
        # Where it happened: the client's geo, else a card transaction's merchant (the map
        # places card transactions at their merchants).
        F.coalesce(e["geo"]["latitude"], e["card"]["merchant_lat"]).alias("latitude"),
        F.coalesce(e["geo"]["longitude"], e["card"]["merchant_lon"]).alias("longitude"),
        e["card"]["merchant_category"].alias("merchant_category"),
        e["feature_set_version"].alias("feature_set_version"),
        F.when(e["features"].isNotNull(), F.to_json(e["features"])).alias("features"),
        # What the rules did and the models' reasons, as the API wrote them (JSON objects;
        # anything else is not theirs and is left out).
        F.substring(F.get_json_object(F.col("raw"), "$.rules.ruleset_version"), 1, 64).alias(
            "ruleset_version"
        ),
        _json_object("$.rules").alias("rules"),
        _json_object("$.reasons").alias("reasons"),
        F.col("raw").alias("payload"),
        F.sha2(F.col("raw"), 256).alias("payload_hash"),
        F.col("source_position"),
        F.col("record_type"),
        F.col("reject_reason"),
    ]


def transform(raw: DataFrame) -> DataFrame:
    """Raw Kinesis records -> one row per record, loadable or with its reject_reason."""
    return flatten(validate(parse(raw)))


def valid_rows(transformed: DataFrame) -> DataFrame:
    """The loadable events (labels and rejected records left out)."""
    return transformed.where(F.col("reject_reason").isNull() & F.col("record_type").isNull()).drop(
        "reject_reason", "record_type"
    )


def rejected_rows(transformed: DataFrame) -> DataFrame:
    return transformed.where(F.col("reject_reason").isNotNull()).select(
        "source_position",
        "event_id",
        F.col("reject_reason").alias("reason"),
        F.coalesce(F.col("payload"), F.lit("")).alias("raw_payload"),
    )
