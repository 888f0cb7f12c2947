"""The reference implementation of the feature definitions: slow and obviously correct, the
oracle the Spark backfill and the online store are tested against.

It reads the declarations in `fraudit.features.definitions` and, for each transaction T in
arrival order, scans every transaction of T's entity that was received before T (the
latest-dated `HISTORY_CAPS[entity]` of them, rule 8). Nothing is
incremental, nothing is cached across transactions: what it computes is what
docs/FEATURES.md says, by inspection.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from collections.abc import Sequence as Seq
from datetime import UTC, datetime
from typing import Protocol

from fraudit.features.definitions import (
    CATEGORIES,
    CHANNELS,
    FEATURES,
    HISTORY_CAPS,
    MAX_WINDOW_SECONDS,
    MIN_SPEED_SECONDS,
    Aggregate,
    CardSequence,
    CardVector,
    Entity,
    Feature,
    Row,
    RowFeature,
    Sequence,
    Value,
    WindowAggregate,
    channel_of,
)
from fraudit.features.history import CardTransaction, haversine_km


class Earlier(Protocol):
    """What a feature reads of an earlier transaction: a CardTransaction, or the online
    store's lighter record of one (fraudit.online.plan.Member)."""

    @property
    def event_time(self) -> float: ...
    @property
    def card_arrival(self) -> int: ...
    @property
    def amount(self) -> float: ...
    @property
    def card(self) -> str: ...
    @property
    def merchant(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def merchant_lat(self) -> float: ...
    @property
    def merchant_lon(self) -> float: ...


_SECONDS_PER_YEAR = 365.2425 * 86_400


def entity_key(transaction: CardTransaction, entity: Entity) -> str | None:
    """Which entity a transaction belongs to; None when it has none (no device, no IP)."""
    if entity is Entity.CARD:
        return transaction.card
    if entity is Entity.MERCHANT:
        return transaction.merchant
    if entity is Entity.DEVICE:
        return transaction.device
    return transaction.ip


def in_window(earlier: Earlier, t: float, window_seconds: float) -> bool:
    """Event time in (t - w, t]: a transaction received earlier with the same event time
    counts; one exactly w before does not; one received earlier but dated after t (a late
    arrival of T) does not."""
    return t - window_seconds < earlier.event_time <= t


def window_value(
    feature: WindowAggregate, transaction: CardTransaction, received: Seq[Earlier]
) -> Value:
    """`received`: this entity's transactions received before `transaction`."""
    members = [e for e in received if in_window(e, transaction.event_time, feature.window_seconds)]
    return aggregate(feature, members)


def aggregate(feature: WindowAggregate, members: Seq[Earlier]) -> Value:
    """The feature's aggregate over `members`, the transactions in its window."""
    if feature.aggregate is Aggregate.COUNT:
        return float(len(members))
    if feature.aggregate is Aggregate.DISTINCT:
        return float(len({e.card for e in members}))
    amounts = [e.amount for e in members]
    if feature.aggregate is Aggregate.SUM:
        return math.fsum(amounts)
    if not amounts:
        return None
    if feature.aggregate is Aggregate.MEAN:
        return math.fsum(amounts) / len(amounts)
    return max(amounts)


def previous(transaction: CardTransaction, month: Seq[Earlier]) -> Earlier | None:
    """The card's latest transaction by event time among `month` (those received before T
    in its 30 days, not dated after T); of equal event times, the one its card received
    last."""
    if not month:
        return None
    return max(month, key=lambda e: (e.event_time, e.card_arrival))


def card_month(transaction: CardTransaction, card_history: Seq[Earlier]) -> list[Earlier]:
    """The card's transactions received before T in T's 30 days, (t - 30 d, t]: what every
    sequence feature reads (rule 4)."""
    t = transaction.event_time
    return [e for e in card_history if in_window(e, t, MAX_WINDOW_SECONDS)]


def sequence_values(transaction: CardTransaction, month: Seq[Earlier]) -> dict[Sequence, Value]:
    """Every sequence feature of T from `month` (card_month): the previous transaction is
    found once for the three features that read it."""
    out: dict[Sequence, Value] = {
        Sequence.NEW_MERCHANT_30D: 0.0
        if any(e.merchant == transaction.merchant for e in month)
        else 1.0,
        Sequence.NEW_CATEGORY_30D: 0.0
        if any(e.category == transaction.category for e in month)
        else 1.0,
        Sequence.AMOUNT_TO_MEAN_30D: None,
        Sequence.SECONDS_SINCE_PREVIOUS: None,
        Sequence.DISTANCE_FROM_PREVIOUS_KM: None,
        Sequence.SPEED_FROM_PREVIOUS_KMH: None,
    }
    if month:
        mean = math.fsum(e.amount for e in month) / len(month)
        out[Sequence.AMOUNT_TO_MEAN_30D] = transaction.amount / mean if mean > 0 else None
    last = previous(transaction, month)
    if last is not None:
        gap = transaction.event_time - last.event_time
        distance = haversine_km(
            last.merchant_lat, last.merchant_lon, transaction.merchant_lat, transaction.merchant_lon
        )
        out[Sequence.SECONDS_SINCE_PREVIOUS] = gap
        out[Sequence.DISTANCE_FROM_PREVIOUS_KM] = distance
        out[Sequence.SPEED_FROM_PREVIOUS_KMH] = distance / (max(gap, MIN_SPEED_SECONDS) / 3_600)
    return {kind: finite_or_missing(value) for kind, value in out.items()}


def row_value(feature: RowFeature, transaction: CardTransaction) -> Value:
    when = datetime.fromtimestamp(transaction.event_time, UTC)
    kind = feature.kind
    if kind is Row.HOUR:
        return float(when.hour)
    if kind is Row.WEEKDAY:
        return float(when.weekday())
    if kind is Row.AGE_YEARS:
        born = datetime(*transaction.birth_date.timetuple()[:3], tzinfo=UTC)
        return (transaction.event_time - born.timestamp()) / _SECONDS_PER_YEAR
    if kind is Row.LOG_AMOUNT:
        return math.log1p(transaction.amount)
    if kind is Row.DISTANCE_FROM_HOME_KM:
        return haversine_km(
            transaction.home_lat,
            transaction.home_lon,
            transaction.merchant_lat,
            transaction.merchant_lon,
        )
    if kind is Row.CITY_POP_LOG:
        return math.log1p(transaction.city_pop)
    if kind is Row.CATEGORY:
        return float(CATEGORIES.index(transaction.category))
    return float(CHANNELS.index(channel_of(transaction.category)))


def finite_or_missing(value: Value) -> Value:
    """A value that is not a finite number is a missing value: no engine ever hands the
    model an infinity or a NaN (the endpoints refuse them, and one would poison every later
    request of its card). The amount bounds in fraudit.validity make every feature finite
    by construction; this is the rule all engines share should a definition ever overflow."""
    return value if value is None or math.isfinite(value) else None


def feature_value(
    feature: Feature,
    transaction: CardTransaction,
    received: Mapping[Entity, Mapping[str, Seq[Earlier]]],
) -> Value:
    if isinstance(feature, RowFeature):
        return finite_or_missing(row_value(feature, transaction))
    if isinstance(feature, CardSequence):
        month = card_month(transaction, received[Entity.CARD][transaction.card])
        return sequence_values(transaction, month)[feature.kind]
    key = entity_key(transaction, feature.entity)
    if key is None:
        return None  # no device or no IP: the feature does not apply
    return finite_or_missing(window_value(feature, transaction, received[feature.entity][key]))


def rank_key(event_time: float, transaction_id: str) -> tuple[float, str]:
    """How an entity's transactions rank for its cap (rule 8), the greater first: the later
    event time; of equal event times, the greater `transaction_id|` text (the order the
    store keeps them in: `|` sorts after every identifier character, so "ab" ranks above
    "ab-c")."""
    return event_time, transaction_id + "|"


def history_rank(transaction: CardTransaction) -> tuple[float, str]:
    return rank_key(transaction.event_time, transaction.transaction_id)


def capped(received: list[CardTransaction], t: float, cap: int) -> list[CardTransaction]:
    """What of an entity's `received` transactions (those received before T) T's features
    may look at: the `cap` latest-dated of them. Those dated after t take their places in
    the ranking although no window of T holds them, so only the rest is returned."""
    if len(received) <= cap:
        return received
    after = sum(1 for e in received if e.event_time > t)
    room = max(0, cap - after)
    kept = sorted((e for e in received if e.event_time <= t), key=history_rank, reverse=True)
    return kept[:room]


def feature_entity(feature: Feature) -> Entity | None:
    """The one entity whose history a feature reads; None for a feature of T's own row."""
    if isinstance(feature, WindowAggregate):
        return feature.entity
    if isinstance(feature, CardSequence):
        return Entity.CARD
    return None


def compute(
    transactions: Iterable[CardTransaction],
    features: tuple[Feature, ...] = FEATURES,
    caps: Mapping[Entity, int] = HISTORY_CAPS,
) -> dict[str, CardVector]:
    """Every transaction's features, keyed by transaction_id. Every feature reads one
    entity's history: the transactions of T's entity received before T in that entity's
    own arrival order (`CardTransaction.arrival_in`; ties within one entity are refused), at most
    `caps[entity]` of them. Each entity is replayed on its own, in its own order."""
    given = list(transactions)
    ids = [tx.transaction_id for tx in given]
    if len(set(ids)) != len(ids):
        raise ValueError("two transactions share a transaction_id")
    out: dict[str, CardVector] = {tx.transaction_id: {} for tx in given}
    for entity in (None, *Entity):
        mine = [f for f in features if feature_entity(f) is entity]
        if entity is None:
            for tx in given:
                out[tx.transaction_id].update({f.name: feature_value(f, tx, {}) for f in mine})
            continue
        for tx in given:
            if entity_key(tx, entity) is None:  # no device or no IP: its features are missing
                out[tx.transaction_id].update({f.name: feature_value(f, tx, {}) for f in mine})
        ordered = sorted(
            (tx for tx in given if entity_key(tx, entity) is not None),
            key=lambda tx: tx.arrival_in(entity),
        )
        # Numbers are compared within one entity only (each has its own counter).
        positions = [(entity_key(tx, entity), tx.arrival_in(entity)) for tx in ordered]
        if len(set(positions)) != len(positions):
            raise ValueError(f"two transactions share an arrival position in one {entity}'s order")
        received: dict[str, list[CardTransaction]] = defaultdict(list)
        for tx in ordered:
            key = entity_key(tx, entity)
            assert key is not None
            seen = {entity: {key: capped(received[key], tx.event_time, caps[entity])}}
            out[tx.transaction_id].update({f.name: feature_value(f, tx, seen) for f in mine})
            received[key].append(tx)
    return {i: {f.name: vector[f.name] for f in features} for i, vector in out.items()}
