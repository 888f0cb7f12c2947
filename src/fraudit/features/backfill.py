"""The point-in-time-correct backfill: the feature declarations computed over a history on
Spark (a pure DataFrame -> DataFrame transform; it runs wherever Spark does, Glue and EMR
included). It agrees with `fraudit.features.reference` by the rules of docs/FEATURES.md.

For each entity, one self-join pairs every transaction T with the transactions of the same
entity that were received before it (arrival) and are dated in (t - W, t], W the entity's
longest window. Each window's aggregate is then a conditional aggregate over those pairs.
The join is on the entity key and a time bucket of width W (T looks in its bucket and the
one before), so a busy merchant's pairs stay within W of each other instead of spanning
the whole history. Each T's pairs are then ranked as the store ranks them, and those
beyond the entity's cap (rule 8) are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraudit.features.definitions import (
    CATEGORIES,
    CHANNELS,
    FEATURES,
    HISTORY_CAPS,
    MAX_WINDOW_SECONDS,
    MIN_SPEED_SECONDS,
    Aggregate,
    CardSequence,
    Entity,
    Feature,
    Row,
    RowFeature,
    Sequence,
    WindowAggregate,
)
from fraudit.features.history import EARTH_RADIUS_KM, HISTORY_COLUMNS

_KEY = {Entity.CARD: "card", Entity.MERCHANT: "merchant", Entity.DEVICE: "device", Entity.IP: "ip"}
# Optional: a transaction's position in each entity's own arrival order (rule 1), where a
# history has one (CardTransaction.arrivals); without the column, `arrival`.
ENTITY_ARRIVAL_COLUMNS = {entity: f"{_KEY[entity]}_arrival" for entity in Entity}
_SECONDS_PER_YEAR = 365.2425 * 86_400


def haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """The same formula as fraudit.features.history.haversine_km, as a Spark expression."""
    p1, p2 = F.radians(lat1), F.radians(lat2)
    dp, dl = p2 - p1, F.radians(lon2 - lon1)
    a = F.pow(F.sin(dp / 2), 2) + F.cos(p1) * F.cos(p2) * F.pow(F.sin(dl / 2), 2)
    root = F.sqrt(a)
    # Not F.least: it skips nulls, and a missing place must stay a missing distance.
    return F.lit(2 * EARTH_RADIUS_KM) * F.asin(F.when(root > 1.0, F.lit(1.0)).otherwise(root))


def _longest(entity: Entity, features: tuple[Feature, ...]) -> int:
    windows = [
        f.window_seconds for f in features if isinstance(f, WindowAggregate) and f.entity is entity
    ]
    if entity is Entity.CARD and any(isinstance(f, CardSequence) for f in features):
        windows.append(MAX_WINDOW_SECONDS)
    return max(windows, default=0)


_PAIR_COLUMNS = (
    "transaction_id",
    "event_time",
    "arrival",
    "amount",
    "card",
    "merchant",
    "category",
    "merchant_lat",
    "merchant_lon",
)


def _dated_after(history: DataFrame, key: str) -> DataFrame:
    """Per transaction T of the entity: how many of its transactions received before T are
    dated after T (`_after`; they take places in the cap's ranking, rule 8). Only a late T
    has any: a running maximum over arrivals finds those, and only they are joined."""
    rows = history.where(F.col(key).isNotNull())
    before = Window.partitionBy(key).orderBy("arrival").rowsBetween(Window.unboundedPreceding, -1)
    late = rows.select(
        "transaction_id",
        F.col(key).alias("k"),
        "event_time",
        "arrival",
        F.max("event_time").over(before).alias("_latest_before"),
    ).where(F.col("_latest_before") > F.col("event_time"))
    h = rows.select(
        F.col(key).alias("h_k"),
        F.col("event_time").alias("h_event_time"),
        F.col("arrival").alias("h_arrival"),
    )
    pairs = late.join(
        h,
        (F.col("k") == F.col("h_k"))
        & (F.col("h_arrival") < F.col("arrival"))
        & (F.col("h_event_time") > F.col("event_time")),
    )
    return pairs.groupBy("transaction_id").agg(F.count(F.lit(1)).alias("_after"))


def _pairs(history: DataFrame, entity: Entity, width: int, cap: int) -> DataFrame:
    """(T, earlier) pairs of one entity; T without a match keeps one row of nulls. An
    earlier transaction beyond T's cap (rule 8) keeps its row with its columns null, so T
    keeps its zero counts. Only an entity with more than `cap` transactions in the whole
    history can reach its cap: only its pairs are ranked (a sort per transaction that
    made the demo's card training 2-3 times slower when every entity paid for it)."""
    key = _KEY[entity]
    # The entity's own arrival order is the one its pairs and ranks read.
    rows = history.where(F.col(key).isNotNull()).withColumn(
        "arrival", F.col(ENTITY_ARRIVAL_COLUMNS[entity])
    )
    busy = rows.groupBy(key).count().where(F.col("count") > cap).select(key)
    quiet = _joined(rows.join(busy, key, "left_anti"), key, width, None)
    return quiet.unionByName(_joined(rows.join(busy, key, "left_semi"), key, width, cap))


def _joined(rows: DataFrame, key: str, width: int, cap: int | None) -> DataFrame:
    """The pairs of `rows` (one entity's, all of each key's), ranked against `cap`."""
    t = rows.select(
        "transaction_id",
        F.col(key).alias("k"),
        "event_time",
        "arrival",
        "merchant",
        "category",
        F.explode(
            F.array(F.floor(F.col("event_time") / width), F.floor(F.col("event_time") / width) - 1)
        ).alias("bucket"),
    )
    h = rows.select(
        F.col(key).alias("h_k"),
        F.floor(F.col("event_time") / width).alias("h_bucket"),
        *(F.col(c).alias(f"h_{c}") for c in _PAIR_COLUMNS),
    )
    if cap is not None:
        t = t.join(_dated_after(rows, key), "transaction_id", "left")
    joined = t.join(
        h,
        (F.col("k") == F.col("h_k"))
        & (F.col("bucket") == F.col("h_bucket"))
        & (F.col("h_arrival") < F.col("arrival"))
        & (F.col("h_event_time") <= F.col("event_time"))
        & (F.col("h_event_time") > F.col("event_time") - width),
        "left",
    )
    columns = ["transaction_id", "event_time", "merchant", "category"]
    if cap is None:
        return joined.select(*columns, *(f"h_{c}" for c in _PAIR_COLUMNS))
    # The store's order (fraudit.features.reference.history_rank): later-dated first, then
    # the greater `transaction_id|` text. Nulls (no match) sort last.
    rank = Window.partitionBy("k", "transaction_id").orderBy(
        F.col("h_event_time").desc(), F.concat(F.col("h_transaction_id"), F.lit("|")).desc()
    )
    room = F.lit(cap) - F.coalesce(F.col("_after"), F.lit(0))
    kept = F.row_number().over(rank) <= room
    return joined.select(
        *columns, *(F.when(kept, F.col(f"h_{c}")).alias(f"h_{c}") for c in _PAIR_COLUMNS)
    )


def _in(window: int) -> Column:
    return F.col("h_event_time") > F.col("event_time") - window


def _window_aggregate(feature: WindowAggregate) -> Column:
    inside = _in(feature.window_seconds)
    if feature.aggregate is Aggregate.COUNT:
        value = F.count(F.when(inside, F.lit(1)))
    elif feature.aggregate is Aggregate.DISTINCT:
        value = F.countDistinct(F.when(inside, F.col("h_card")))
    elif feature.aggregate is Aggregate.SUM:
        value = F.coalesce(F.sum(F.when(inside, F.col("h_amount"))), F.lit(0.0))
    elif feature.aggregate is Aggregate.MEAN:
        value = F.avg(F.when(inside, F.col("h_amount")))
    else:
        value = F.max(F.when(inside, F.col("h_amount")))
    return value.cast("double").alias(feature.name)


def _card_sequence_parts() -> list[Column]:
    """Per T, from its 30-day card pairs: the previous transaction and the 30-day facts."""
    month = _in(MAX_WINDOW_SECONDS)
    return [
        F.max(
            F.when(
                month,
                F.struct(
                    F.col("h_event_time").alias("event_time"),
                    F.col("h_arrival").alias("arrival"),
                    F.col("h_merchant_lat").alias("lat"),
                    F.col("h_merchant_lon").alias("lon"),
                ),
            )
        ).alias("_previous"),
        F.avg(F.when(month, F.col("h_amount"))).alias("_mean_30d"),
        F.max(F.when(month & (F.col("h_merchant") == F.col("merchant")), F.lit(1))).alias(
            "_seen_merchant"
        ),
        F.max(F.when(month & (F.col("h_category") == F.col("category")), F.lit(1))).alias(
            "_seen_category"
        ),
    ]


def _sequence_value(feature: CardSequence) -> Column:
    kind = feature.kind
    gap = F.col("event_time") - F.col("_previous.event_time")
    distance = haversine_km(
        F.col("_previous.lat"), F.col("_previous.lon"), F.col("merchant_lat"), F.col("merchant_lon")
    )
    values: dict[Sequence, Column] = {
        Sequence.SECONDS_SINCE_PREVIOUS: gap,
        Sequence.DISTANCE_FROM_PREVIOUS_KM: distance,
        Sequence.SPEED_FROM_PREVIOUS_KMH: distance
        / (F.when(gap < MIN_SPEED_SECONDS, F.lit(MIN_SPEED_SECONDS)).otherwise(gap) / 3_600),
        Sequence.AMOUNT_TO_MEAN_30D: F.when(
            F.col("_mean_30d") > 0, F.col("amount") / F.col("_mean_30d")
        ),
        Sequence.NEW_MERCHANT_30D: F.when(F.col("_seen_merchant").isNull(), 1.0).otherwise(0.0),
        Sequence.NEW_CATEGORY_30D: F.when(F.col("_seen_category").isNull(), 1.0).otherwise(0.0),
    }
    return values[kind].cast("double").alias(feature.name)


def _category_index() -> Column:
    # A chain of when(): Spark 3.5 (Glue) takes only a literal in array_position.
    index = F.when(F.col("category") == CATEGORIES[0], 0)
    for position, name in enumerate(CATEGORIES[1:], start=1):
        index = index.when(F.col("category") == name, position)
    return index


def _row_value(feature: RowFeature) -> Column:
    t = F.col("event_time")
    day = F.floor(t / 86_400)
    born = F.datediff(F.col("birth_date"), F.lit("1970-01-01").cast("date")) * 86_400
    channel = (
        F.when(F.col("category").endswith("_net"), CHANNELS.index("net"))
        .when(F.col("category").endswith("_pos"), CHANNELS.index("pos"))
        .otherwise(CHANNELS.index("unspecified"))
    )
    values: dict[Row, Column] = {
        # Arithmetic on Unix seconds, not the session's time zone: hours and days in UTC.
        Row.HOUR: F.floor((t - day * 86_400) / 3_600),
        Row.WEEKDAY: F.pmod(day + 3, 7),  # 1970-01-01 was a Thursday (Monday = 0)
        Row.AGE_YEARS: (t - born) / _SECONDS_PER_YEAR,
        Row.LOG_AMOUNT: F.log1p(F.col("amount")),
        Row.DISTANCE_FROM_HOME_KM: haversine_km(
            F.col("home_lat"), F.col("home_lon"), F.col("merchant_lat"), F.col("merchant_lon")
        ),
        Row.CITY_POP_LOG: F.log1p(F.col("city_pop")),
        Row.CATEGORY: _category_index(),
        Row.CHANNEL: channel,
    }
    return values[feature.kind].cast("double").alias(feature.name)


def _finite_or_missing(value: Column, name: str) -> Column:
    """The reference's rule (finite_or_missing): NaN and infinities become null."""
    infinite = F.abs(value) == F.lit(float("inf"))
    return F.when(~(F.isnan(value) | infinite), value).alias(name)


def backfill(
    history: DataFrame,
    features: tuple[Feature, ...] = FEATURES,
    caps: Mapping[Entity, int] = HISTORY_CAPS,
) -> DataFrame:
    """One row per transaction: transaction_id and every feature (double; null = missing),
    each over at most `caps[entity]` of an entity's transactions (rule 8)."""
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(f"the history lacks columns {missing}")
    base = history.select(
        *HISTORY_COLUMNS,
        *(
            F.coalesce(F.col(column), F.col("arrival")).alias(column)
            if column in history.columns
            else F.col("arrival").alias(column)
            for column in ENTITY_ARRIVAL_COLUMNS.values()
        ),
    )
    result = base
    for entity in Entity:
        width = _longest(entity, features)
        if not width:
            continue
        aggregates: list[Any] = [
            _window_aggregate(f)
            for f in features
            if isinstance(f, WindowAggregate) and f.entity is entity
        ]
        if entity is Entity.CARD:
            aggregates += _card_sequence_parts()
        # The two bucket rows of one T each hold part of its pairs; nulls (no pair) add
        # nothing to a count, a sum or a max.
        per_t = _pairs(base, entity, width, caps[entity]).groupBy("transaction_id").agg(*aggregates)
        result = result.join(per_t, "transaction_id", "left")
    columns = []
    for f in features:
        if isinstance(f, WindowAggregate):
            key = F.col(_KEY[f.entity])
            value = F.when(key.isNotNull(), F.col(f.name)).cast("double")
        elif isinstance(f, CardSequence):
            value = _sequence_value(f)
        else:
            value = _row_value(f)
        columns.append(_finite_or_missing(value, f.name))
    return result.select("transaction_id", *columns)
