"""What a rule may read, by family, with its type: the fields a stored event keeps (so a
backtest replays a rule on history exactly as the API ran it), the card's 42 features and
both scores. Pure: declarations, and one function that reads them off a scored event.

A value the event does not have (no device, no previous transaction, a mean over an empty
window) is *absent*: a rule whose outcome depends on it does not fire (docs/RULES.md,
"Missing values")."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from fraudit.contracts import RuleInput, ScoredEvent
from fraudit.families import ModelFamily
from fraudit.features.definitions import (
    CATEGORIES,
    CHANNELS,
    FEATURES,
    Aggregate,
    CardSequence,
    Row,
    RowFeature,
    Sequence,
    WindowAggregate,
)


class FieldType(StrEnum):
    """CEL's own type names: a count is an int (`>= 5`), an amount a double (`< 2.0`)."""

    BOOL = "bool"
    INT = "int"
    DOUBLE = "double"
    STRING = "string"


@dataclass(frozen=True)
class RuleField:
    name: str
    type: FieldType
    description: str
    # Every event has it: a rule reading only such fields never meets an absent value.
    always: bool = True


_COMMON: tuple[RuleField, ...] = (
    RuleField("amount", FieldType.DOUBLE, "the transaction's amount"),
    RuleField("user_id", FieldType.STRING, "the client's user id"),
    RuleField("source", FieldType.STRING, "the client's source label"),
    RuleField("ip_address", FieldType.STRING, "the client's IP address, if sent", always=False),
    RuleField("device_id", FieldType.STRING, "the device id, if sent", always=False),
    RuleField("device_type", FieldType.STRING, "the device type, if sent", always=False),
    RuleField("country", FieldType.STRING, "ISO 3166 alpha-2 country, if sent", always=False),
    RuleField("fraud_proba", FieldType.DOUBLE, "the classifier's calibrated probability"),
    RuleField("anomaly_score", FieldType.DOUBLE, "the anomaly detector's score"),
)

_CARD_REQUEST: tuple[RuleField, ...] = (
    RuleField("card_token", FieldType.STRING, "the card's token (never a card number)"),
    RuleField("merchant_id", FieldType.STRING, "the merchant's id"),
    RuleField("merchant_category", FieldType.STRING, "the merchant's category"),
    RuleField("merchant_lat", FieldType.DOUBLE, "the merchant's latitude"),
    RuleField("merchant_lon", FieldType.DOUBLE, "the merchant's longitude"),
)


def _always_present(feature: WindowAggregate | CardSequence | RowFeature) -> bool:
    """Counts and sums always have a value; a mean or maximum of an empty window, a device's
    or an IP's count without one, and what the previous transaction says do not."""
    if isinstance(feature, WindowAggregate):
        return feature.aggregate in (Aggregate.COUNT, Aggregate.SUM)
    if isinstance(feature, CardSequence):
        return feature.kind in (Sequence.NEW_MERCHANT_30D, Sequence.NEW_CATEGORY_30D)
    return True


def _feature_type(feature: WindowAggregate | CardSequence | RowFeature) -> FieldType:
    if isinstance(feature, WindowAggregate):
        counted = feature.aggregate in (Aggregate.COUNT, Aggregate.DISTINCT)
        return FieldType.INT if counted else FieldType.DOUBLE
    if isinstance(feature, CardSequence):
        flags = (Sequence.NEW_MERCHANT_30D, Sequence.NEW_CATEGORY_30D)
        return FieldType.BOOL if feature.kind in flags else FieldType.DOUBLE
    if feature.kind in (Row.HOUR, Row.WEEKDAY):
        return FieldType.INT
    if feature.kind in (Row.CATEGORY, Row.CHANNEL):
        return FieldType.STRING
    return FieldType.DOUBLE


FEATURE_TYPES: Mapping[str, FieldType] = MappingProxyType(
    {f.name: _feature_type(f) for f in FEATURES}
)

_CARD_FEATURES: tuple[RuleField, ...] = tuple(
    RuleField(
        f.name, FEATURE_TYPES[f.name], "a card feature (docs/FEATURES.md)", _always_present(f)
    )
    for f in FEATURES
)


def fields_of(family: ModelFamily) -> tuple[RuleField, ...]:
    """What a family's rules may read: every event's fields and scores; a family that
    counts card history adds the card's details and its 42 features."""
    if family.counts_history:
        return _COMMON + _CARD_REQUEST + _CARD_FEATURES
    return _COMMON


def _feature_value(name: str, value: float) -> RuleInput | None:
    """A vector's value as its rule type; None (absent) for one no engine makes (not finite,
    or a code outside its list)."""
    if not math.isfinite(value):
        return None
    kind = FEATURE_TYPES[name]
    if kind is FieldType.INT:
        return round(value)
    if kind is FieldType.BOOL:
        return value >= 0.5
    if kind is FieldType.STRING:
        names = CATEGORIES if name == Row.CATEGORY else CHANNELS
        code = round(value)
        return names[code] if 0 <= code < len(names) else None
    return float(value)


def rule_inputs(event: ScoredEvent, only: frozenset[str] | None = None) -> dict[str, RuleInput]:
    """What a rule reads of one scored event (`only` those fields, given); absent values
    are left out."""
    meta: dict[str, RuleInput | None] = {
        "amount": float(event.amount),
        "user_id": event.user_id,
        "source": event.source,
        "ip_address": event.ip_address,
        "device_id": event.device_info.device_id if event.device_info else None,
        "device_type": event.device_info.device_type if event.device_info else None,
        "country": event.geo.country if event.geo else None,
        "fraud_proba": float(event.fraud_proba),
        "anomaly_score": float(event.anomaly_score),
    }
    if event.card is not None:
        card = event.card
        meta |= {
            "card_token": card.card_token,
            "merchant_id": card.merchant_id,
            "merchant_category": card.merchant_category,
            "merchant_lat": float(card.merchant_lat),
            "merchant_lon": float(card.merchant_lon),
        }
    features = event.features or {}
    for name in FEATURE_TYPES if only is None else only & FEATURE_TYPES.keys():
        value = features.get(name)
        if value is not None:
            meta[name] = _feature_value(name, float(value))
    return {k: v for k, v in meta.items() if v is not None and (only is None or k in only)}
