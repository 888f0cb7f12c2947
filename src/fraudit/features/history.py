"""A card transaction as the feature engines see it (after validation: a card token, never
a card number), built here only: from an API request, from a stored stream event, from a
real Sparkov row; the history file's columns; and the geometry the engines share."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, Protocol

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


# A history file's columns: the record's fields (event_time in Unix seconds, birth_date a
# date; device and ip may be null). Per-entity arrival numbers travel in columns of their
# own (fraudit.features.backfill.ENTITY_ARRIVAL_COLUMNS).
HISTORY_COLUMNS = tuple(f.name for f in fields(CardTransaction) if f.name != "arrivals")


class _Placed(Protocol):
    """What every source of a card record gives: the amount and where merchant and
    cardholder are."""

    @property
    def amount(self) -> float: ...

    @property
    def merchant_lat(self) -> float: ...

    @property
    def merchant_lon(self) -> float: ...

    @property
    def home_lat(self) -> float: ...

    @property
    def home_lon(self) -> float: ...

    @property
    def city_pop(self) -> int: ...


class _Card(_Placed, Protocol):
    @property
    def card_token(self) -> str: ...

    @property
    def merchant_id(self) -> str: ...

    @property
    def merchant_category(self) -> str: ...

    @property
    def date_of_birth(self) -> date: ...


class _Device(Protocol):
    @property
    def device_id(self) -> str | None: ...


class _Metadata(Protocol):
    @property
    def timestamp(self) -> datetime: ...

    @property
    def device_info(self) -> _Device | None: ...

    @property
    def ip_address(self) -> str | None: ...


class CardRequest(Protocol):
    """What the record reads of an accepted card request (fraudit.contracts.CardPredictRequest,
    read by shape so that the features sit below the contracts)."""

    @property
    def transaction(self) -> _Card: ...

    @property
    def metadata(self) -> _Metadata: ...


def from_request(request: CardRequest, transaction_id: str, arrival: int) -> CardTransaction:
    """A card transaction the API accepted."""
    t, meta = request.transaction, request.metadata
    return CardTransaction(
        transaction_id=transaction_id,
        card=t.card_token,
        event_time=meta.timestamp.timestamp(),
        arrival=arrival,
        amount=t.amount,
        merchant=t.merchant_id,
        category=t.merchant_category,
        merchant_lat=t.merchant_lat,
        merchant_lon=t.merchant_lon,
        home_lat=t.home_lat,
        home_lon=t.home_lon,
        city_pop=t.city_pop,
        birth_date=t.date_of_birth,
        device=meta.device_info.device_id if meta.device_info else None,
        ip=meta.ip_address,
    )


def from_stored_event(row: tuple[Any, ...]) -> CardTransaction:
    """A stored card event (fraudit.db.sql.CARD_EVENTS_TO_RECOUNT's columns) with its
    arrival number in each entity. Fields no stored feature reads (home, age, city) are
    placeholders: the online store keeps only history."""
    (event_id, timestamp, amount, card, merchant, category, lat, lon) = row[:8]
    (arrival, arrivals, device, ip) = row[8:]
    if isinstance(arrivals, str):
        arrivals = json.loads(arrivals)
    numbers = {str(entity): int(n) for entity, n in (arrivals or {}).items()}
    return CardTransaction(
        transaction_id=event_id,
        card=card,
        event_time=datetime.fromisoformat(timestamp).timestamp(),
        arrival=int(arrival),
        arrivals=numbers,
        amount=float(amount),
        merchant=merchant,
        category=category,
        merchant_lat=float(lat),
        merchant_lon=float(lon),
        home_lat=0.0,
        home_lon=0.0,
        city_pop=0,
        birth_date=date(1970, 1, 1),
        device=device,
        ip=ip,
    )


class RowOfARealFile(_Placed, Protocol):
    """A real Sparkov row as fraudit.data.sparkov_profile reads it."""

    @property
    def card(self) -> str: ...

    @property
    def local_time(self) -> float: ...

    @property
    def category(self) -> str: ...

    @property
    def birth_date(self) -> str: ...


def from_real_row(row: RowOfARealFile, index: int) -> CardTransaction:
    """A real Sparkov row, numbered `index`: the row features only (no merchant id)."""
    return CardTransaction(
        transaction_id=str(index),
        card=row.card,
        event_time=row.local_time,
        arrival=index,
        amount=row.amount,
        merchant="",
        category=row.category,
        merchant_lat=row.merchant_lat,
        merchant_lon=row.merchant_lon,
        home_lat=row.home_lat,
        home_lon=row.home_lon,
        city_pop=row.city_pop,
        birth_date=date.fromisoformat(row.birth_date),
    )


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
