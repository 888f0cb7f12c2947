"""A card transaction as the feature engines see it (after validation: a card token, never
a card number), and the geometry they share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


@dataclass(frozen=True)
class CardTransaction:
    transaction_id: str
    card: str
    event_time: float  # Unix seconds, UTC
    # The order in which the store received it: features look only at transactions received
    # before this one. A history file gives it as a column; by default, event-time order.
    arrival: int
    amount: float
    merchant: str
    category: str
    merchant_lat: float
    merchant_lon: float
    home_lat: float
    home_lon: float
    city_pop: int
    birth_date: date
    device: str | None = None
    ip: str | None = None
    # Its position in each entity's own arrival order, by entity name ("card", "device",
    # ...), where that differs from `arrival` (rule 1: a store that steps each entity on
    # its own numbers each entity's transactions on their own). Absent: `arrival`.
    arrivals: Mapping[str, int] = field(default_factory=dict, hash=False)

    def arrival_in(self, entity: str) -> int:
        """This transaction's position in `entity`'s own arrival order."""
        return self.arrivals.get(entity, self.arrival)

    @property
    def card_arrival(self) -> int:
        """Its position in its card's arrival order (the previous-transaction rule's
        tie-break)."""
        return self.arrival_in("card")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
