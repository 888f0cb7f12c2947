"""The card-transaction features, declared once as data. Every engine derives from these
declarations: the slow reference implementation (`fraudit.features.reference`, the test
oracle), the Spark backfill and the online store. docs/FEATURES.md states the semantics;
in short, a feature of transaction T looks only at transactions *received before* T whose
event time lies in (t - w, t], T itself excluded.

Three kinds:
- `WindowAggregate`: entity x aggregate x field x window (count, sum, mean, max of the
  amount per card; count per merchant; distinct cards per device or IP);
- `CardSequence`: what the card's previous transaction and its 30-day history say (time
  since, distance and speed from it, amount against the 30-day mean, a new merchant or
  category);
- `RowFeature`: the transaction alone (hour, weekday, age, log amount, distance from home,
  category, channel).

Gender is carried for fairness reporting and is never a feature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType

# A feature's value (None: missing, which the models read as such) and a card vector, the
# features of one transaction by name: what every engine computes and the card models score.
Value = float | None
CardVector = dict[str, Value]

# No window looks back further than this: online state per entity is bounded by it.
MAX_WINDOW_SECONDS = 30 * 86_400

MINUTE, HOUR, DAY = 60, 3_600, 86_400


class Entity(StrEnum):
    CARD = "card"
    MERCHANT = "merchant"
    DEVICE = "device"
    IP = "ip"


class Aggregate(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    MAX = "max"
    DISTINCT = "distinct"  # distinct values of `field` (cards per device or IP)


class Field(StrEnum):
    TRANSACTION = "transaction"  # counts transactions
    AMOUNT = "amount"
    CARD = "card"


class Sequence(StrEnum):
    SECONDS_SINCE_PREVIOUS = "seconds_since_previous"
    DISTANCE_FROM_PREVIOUS_KM = "distance_from_previous_km"
    SPEED_FROM_PREVIOUS_KMH = "speed_from_previous_kmh"
    AMOUNT_TO_MEAN_30D = "amount_to_mean_30d"
    NEW_MERCHANT_30D = "new_merchant_30d"
    NEW_CATEGORY_30D = "new_category_30d"


class Row(StrEnum):
    HOUR = "hour"
    WEEKDAY = "weekday"
    AGE_YEARS = "age_years"
    LOG_AMOUNT = "log_amount"
    DISTANCE_FROM_HOME_KM = "distance_from_home_km"
    CITY_POP_LOG = "city_pop_log"
    CATEGORY = "category"
    CHANNEL = "channel"


_WINDOW_NAMES = {10 * MINUTE: "10m", HOUR: "1h", DAY: "24h", 7 * DAY: "7d", 30 * DAY: "30d"}


@dataclass(frozen=True)
class WindowAggregate:
    entity: Entity
    aggregate: Aggregate
    field: Field
    window_seconds: int

    def __post_init__(self) -> None:
        if not 0 < self.window_seconds <= MAX_WINDOW_SECONDS:
            raise ValueError(f"window must be in (0, 30 days], got {self.window_seconds} s")
        if self.window_seconds not in _WINDOW_NAMES:
            raise ValueError(f"no name for a window of {self.window_seconds} s")
        if (self.aggregate is Aggregate.DISTINCT) != (self.field is Field.CARD):
            raise ValueError("distinct counts count cards, and only they do")
        if (self.aggregate is Aggregate.COUNT) != (self.field is Field.TRANSACTION):
            raise ValueError("counts count transactions, and only they do")

    @cached_property
    def name(self) -> str:
        what = "count" if self.aggregate is Aggregate.COUNT else f"{self.field}_{self.aggregate}"
        if self.aggregate is Aggregate.DISTINCT:
            what = "distinct_cards"
        return f"{self.entity}_{what}_{_WINDOW_NAMES[self.window_seconds]}"


@dataclass(frozen=True)
class CardSequence:
    kind: Sequence

    @cached_property
    def name(self) -> str:
        return f"card_{self.kind}"


@dataclass(frozen=True)
class RowFeature:
    kind: Row

    @cached_property
    def name(self) -> str:
        return str(self.kind)


Feature = WindowAggregate | CardSequence | RowFeature

CARD_WINDOWS = (10 * MINUTE, HOUR, DAY, 7 * DAY, 30 * DAY)
SHARED_WINDOWS = (HOUR, DAY, 7 * DAY)


def _card_windows() -> tuple[WindowAggregate, ...]:
    out: list[WindowAggregate] = []
    for window in CARD_WINDOWS:
        out.append(WindowAggregate(Entity.CARD, Aggregate.COUNT, Field.TRANSACTION, window))
        for aggregate in (Aggregate.SUM, Aggregate.MEAN, Aggregate.MAX):
            out.append(WindowAggregate(Entity.CARD, aggregate, Field.AMOUNT, window))
    return tuple(out)


FEATURES: tuple[Feature, ...] = (
    *_card_windows(),
    *(WindowAggregate(Entity.MERCHANT, Aggregate.COUNT, Field.TRANSACTION, w) for w in (HOUR, DAY)),
    *(
        WindowAggregate(entity, Aggregate.DISTINCT, Field.CARD, w)
        for entity in (Entity.DEVICE, Entity.IP)
        for w in SHARED_WINDOWS
    ),
    *(CardSequence(kind) for kind in Sequence),
    *(RowFeature(kind) for kind in Row),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
HISTORY_FEATURES: tuple[Feature, ...] = tuple(f for f in FEATURES if not isinstance(f, RowFeature))
ROW_FEATURES: tuple[RowFeature, ...] = tuple(f for f in FEATURES if isinstance(f, RowFeature))

# Sparkov's 14 categories; the `_net` / `_pos` suffix is the channel, the rest have none.
CATEGORIES: tuple[str, ...] = (
    "entertainment",
    "food_dining",
    "gas_transport",
    "grocery_net",
    "grocery_pos",
    "health_fitness",
    "home",
    "kids_pets",
    "misc_net",
    "misc_pos",
    "personal_care",
    "shopping_net",
    "shopping_pos",
    "travel",
)
CHANNELS: tuple[str, ...] = ("unspecified", "net", "pos")


def channel_of(category: str) -> str:
    for channel in ("net", "pos"):
        if category.endswith(f"_{channel}"):
            return channel
    return "unspecified"


# How many of an entity's transactions its features look at, at most: the latest-dated this
# many of those received before T (docs/FEATURES.md, rule 8). It bounds what the online
# store keeps and reads per entity, whatever the entity's traffic (a NAT gateway's IP, a
# shared terminal, a card-testing run). Far above an honest card's month (about 90 at three
# a day) and a device's or an IP's week; a merchant's counts are answered without reading
# its members, so it keeps more.
HISTORY_CAPS: Mapping[Entity, int] = MappingProxyType(
    {
        Entity.CARD: 1_000,
        Entity.MERCHANT: 100_000,
        Entity.DEVICE: 1_000,
        Entity.IP: 1_000,
    }
)

# Speeds are computed over at least this many seconds: event times are to the second and
# two payments a second apart at different terminals are not a 3,600x faster journey.
MIN_SPEED_SECONDS = 60.0


def feature_set_version(
    features: tuple[Feature, ...] = FEATURES, caps: Mapping[Entity, int] = HISTORY_CAPS
) -> str:
    """A hash of the declarations: the stream event and the model carry it, so a vector is
    never scored by a model trained on other definitions."""
    described = [{"type": type(f).__name__, "name": f.name, **asdict(f)} for f in features] + [
        {
            "categories": list(CATEGORIES),
            "min_speed_seconds": MIN_SPEED_SECONDS,
            "history_caps": {str(e): caps[e] for e in Entity},
        }
    ]
    canonical = json.dumps(described, sort_keys=True, default=str).encode()
    return f"fs-{hashlib.sha256(canonical).hexdigest()[:10]}"


if len(set(FEATURE_NAMES)) != len(FEATURE_NAMES):  # pragma: no cover - a declaration bug
    raise RuntimeError("two features share a name")
