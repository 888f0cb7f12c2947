"""History files for the backfill: read a CSV or Parquet history into the columns the
engines take (refusing what would silently become null), write the features as Parquet.

A history file has the columns of `fraudit.features.history.CardTransaction`:
transaction_id, card, event_time (Unix seconds), arrival (optional), amount, merchant,
category, merchant_lat, merchant_lon, home_lat, home_lon, city_pop, birth_date
(YYYY-MM-DD), device, ip (both optional, may be empty). Without `arrival`, transactions
are taken to have arrived in event-time order (ties by transaction_id). Optional
`card_arrival`, `merchant_arrival`, `device_arrival` and `ip_arrival` give each entity's own
arrival order where it differs from `arrival` (docs/FEATURES.md, rule 1).
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from fraudit.features.backfill import ENTITY_ARRIVAL_COLUMNS
from fraudit.features.history import HISTORY_COLUMNS

COLUMN_TYPES = {
    "transaction_id": "string",
    "card": "string",
    "event_time": "double",
    "arrival": "long",
    "amount": "double",
    "merchant": "string",
    "category": "string",
    "merchant_lat": "double",
    "merchant_lon": "double",
    "home_lat": "double",
    "home_lon": "double",
    "city_pop": "long",
    "birth_date": "date",
    "device": "string",
    "ip": "string",
    **{column: "long" for column in ENTITY_ARRIVAL_COLUMNS.values()},
}
OPTIONAL = frozenset({"arrival", "device", "ip", *ENTITY_ARRIVAL_COLUMNS.values()})
# What a history file may hold and the engines read: the history's columns, then each
# entity's own arrival order where the file gives one.
ALL_COLUMNS = (*HISTORY_COLUMNS, *ENTITY_ARRIVAL_COLUMNS.values())


class HistoryError(ValueError):
    """The history file is missing columns or holds values of the wrong type."""


def read_history(spark: SparkSession, path: Path) -> DataFrame:
    if path.suffix == ".parquet" or path.is_dir():
        raw = spark.read.parquet(str(path))
    else:  # CSV, gzipped or not: every value read as text, then cast and checked
        raw = spark.read.option("header", True).option("inferSchema", False).csv(str(path))
    missing = [c for c in HISTORY_COLUMNS if c not in raw.columns and c not in OPTIONAL]
    if missing:
        raise HistoryError(f"{path}: no column(s) {', '.join(missing)}")
    columns = [c for c in ALL_COLUMNS if c in HISTORY_COLUMNS or c in raw.columns]
    typed = raw.select(
        *(
            (
                # try_cast: a malformed value becomes null, which the check below reports
                # (a plain cast raises in ANSI mode and turns it to null silently without).
                F.expr(f"try_cast(`{c}` AS {COLUMN_TYPES[c]})")
                if c in raw.columns
                else F.lit(None).cast(COLUMN_TYPES[c])
            ).alias(c)
            for c in columns
        ),
        *(F.col(c).alias(f"_raw_{c}") for c in columns if c in raw.columns),
    )
    _refuse_bad_values(typed, path, [c for c in columns if c in raw.columns])
    if "arrival" not in raw.columns:
        order = Window.orderBy("event_time", "transaction_id")
        typed = typed.withColumn("arrival", F.row_number().over(order).cast("long"))
    return typed.select(*columns)


def _refuse_bad_values(typed: DataFrame, path: Path, present: list[str]) -> None:
    """A value that does not cast, or a required value that is empty, is an error naming
    the column and how many rows: Spark would otherwise turn it into null silently."""
    checks = []
    for c in present:
        raw = F.col(f"_raw_{c}")
        given = raw.isNotNull() & (F.trim(raw.cast("string")) != "")
        bad = given & F.col(c).isNull()
        if c not in OPTIONAL:
            bad = bad | ~given
        checks.append(F.sum(F.when(bad, 1).otherwise(0)).alias(c))
    counts = typed.agg(*checks).first()
    if counts is None:
        return
    problems = [f"{c} ({counts[c]} rows)" for c in present if counts[c]]
    if problems:
        raise HistoryError(f"{path}: empty or malformed values in {', '.join(problems)}")


def write_features(features: DataFrame, out: Path) -> None:
    features.write.mode("overwrite").parquet(str(out))


def backfill_file(spark: SparkSession, history: Path, out: Path) -> int:
    """Every transaction's features from a history file to Parquet; returns the rows."""
    from fraudit.features.backfill import backfill

    frame = read_history(spark, history).cache()
    rows = frame.count()
    write_features(backfill(frame), out)
    frame.unpersist()
    return rows
