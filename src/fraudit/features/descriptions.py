"""A card feature's value in words, for the reasons a decision carries ("6 transactions on
this card in the last 10 minutes"). Derived from the declarations, so a feature set's texts
change with it (a reason carries the feature set's version). Pure."""

from __future__ import annotations

import math

from fraudit.features.definitions import (
    CATEGORIES,
    CHANNELS,
    FEATURES,
    Aggregate,
    CardSequence,
    Entity,
    Feature,
    Row,
    RowFeature,
    Sequence,
    Value,
    WindowAggregate,
)

_WINDOW_WORDS = {
    600: "10 minutes",
    3_600: "hour",
    86_400: "24 hours",
    7 * 86_400: "7 days",
    30 * 86_400: "30 days",
}
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}


def _count(value: float, one: str, many: str) -> str:
    n = round(value)
    return f"{n} {one if n == 1 else many}"


def _window(feature: WindowAggregate, value: float) -> str:
    window = f"in the last {_WINDOW_WORDS[feature.window_seconds]}"
    if feature.aggregate is Aggregate.DISTINCT:
        place = "on this device" if feature.entity is Entity.DEVICE else "from this IP address"
        return f"{_count(value, 'card', 'cards')} used {place} {window}"
    where = "at this merchant" if feature.entity is Entity.MERCHANT else "on this card"
    if feature.aggregate is Aggregate.COUNT:
        return f"{_count(value, 'transaction', 'transactions')} {where} {window}"
    if feature.aggregate is Aggregate.SUM:
        return f"{value:,.2f} spent {where} {window}"
    if feature.aggregate is Aggregate.MEAN:
        return f"{value:,.2f} per transaction on average {where} {window}"
    return f"largest transaction {where} {window}: {value:,.2f}"


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            return _count(seconds / size, unit, unit + "s")
    return _count(seconds, "second", "seconds")


def _sequence(kind: Sequence, value: float) -> str:
    if kind is Sequence.SECONDS_SINCE_PREVIOUS:
        return f"{_duration(value)} since the card's previous transaction"
    if kind is Sequence.DISTANCE_FROM_PREVIOUS_KM:
        return f"{value:,.0f} km from the card's previous transaction"
    if kind is Sequence.SPEED_FROM_PREVIOUS_KMH:
        return f"{value:,.0f} km/h to get here from the card's previous transaction"
    if kind is Sequence.AMOUNT_TO_MEAN_30D:
        return f"{value:,.1f} times the card's 30-day average amount"
    what = "merchant" if kind is Sequence.NEW_MERCHANT_30D else "category"
    if value >= 0.5:
        return f"a {what} this card has not used in 30 days"
    return f"a {what} this card used in the last 30 days"


def _row(kind: Row, value: float) -> str:
    if kind is Row.HOUR:
        return f"at {round(value):02d}:00-{round(value):02d}:59 UTC"
    if kind is Row.WEEKDAY:
        return f"on a {_WEEKDAYS[round(value) % 7]}"
    if kind is Row.AGE_YEARS:
        return f"a cardholder aged {math.floor(value)}"
    if kind is Row.LOG_AMOUNT:
        return f"an amount of {math.expm1(value):,.2f}"
    if kind is Row.DISTANCE_FROM_HOME_KM:
        return f"{value:,.0f} km from the cardholder's home"
    if kind is Row.CITY_POP_LOG:
        return f"a cardholder's city of about {math.expm1(value):,.0f} people"
    names = CATEGORIES if kind is Row.CATEGORY else CHANNELS
    code = round(value)
    known = names[code] if 0 <= code < len(names) else f"code {code}"
    return f"category {known}" if kind is Row.CATEGORY else f"the {known} channel"


_ABSENT = {
    "card_seconds_since_previous": "no previous transaction on this card in 30 days",
    "card_distance_from_previous_km": "no previous transaction on this card in 30 days",
    "card_speed_from_previous_kmh": "no previous transaction on this card in 30 days",
    "card_amount_to_mean_30d": "no earlier amount on this card in 30 days",
}


def describe(name: str, value: Value) -> str:
    """`name`'s value in words; a name that is no card feature is given as it is."""
    feature = _BY_NAME.get(name)
    if feature is None:
        return f"{name} = {value}"
    if value is None:
        if isinstance(feature, WindowAggregate):
            if feature.entity in (Entity.DEVICE, Entity.IP):
                return f"no {'IP address' if feature.entity is Entity.IP else 'device'} given"
            return (
                f"no transaction on this card in the last {_WINDOW_WORDS[feature.window_seconds]}"
            )
        return _ABSENT.get(name, f"{name}: no value")
    if isinstance(feature, WindowAggregate):
        return _window(feature, value)
    if isinstance(feature, CardSequence):
        return _sequence(feature.kind, value)
    if isinstance(feature, RowFeature):
        return _row(feature.kind, value)
    return f"{name} = {value}"  # pragma: no cover - every feature kind is above
