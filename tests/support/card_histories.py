"""Random card histories for the feature engines' agreement tests: shared merchants, devices
and IPs, event-time ties and transactions that arrive out of event-time order."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime

from fraudit.features.definitions import CATEGORIES, DAY, Entity
from fraudit.features.history import CardTransaction

START = datetime(2024, 1, 1, tzinfo=UTC).timestamp()


def random_history(
    n: int, *, seed: int = 0, cards: int = 300, days: int = 45, late_share: float = 0.1
) -> list[CardTransaction]:
    """`n` transactions over `days`. About 5% repeat the previous transaction's event time
    (ties), half of those on the same card; `late_share` arrive up to an hour after later-dated ones (late arrivals); some
    have no device or IP."""
    rng = random.Random(seed)
    merchants = [
        (f"m{i}", rng.choice(CATEGORIES), rng.uniform(25, 49), rng.uniform(-124, -67))
        for i in range(max(20, cards // 4))
    ]
    homes = {f"card_{i:04d}": (rng.uniform(25, 49), rng.uniform(-124, -67)) for i in range(cards)}
    devices = [f"dev-{i}" for i in range(cards // 2)]
    ips = [f"198.51.100.{i}" for i in range(1, 200)]
    card_names = list(homes)
    rows = []
    for i in range(n):
        tie = bool(rows) and rng.random() < 0.05
        if tie:  # an exact tie with the transaction before, half the time on its card
            t = rows[-1][7]
            card = rows[-1][2] if rng.random() < 0.5 else rng.choice(card_names)
        else:
            t = START + rng.randrange(days * DAY)
            hot = card_names[: max(5, cards // 10)]
            card = rng.choice(hot) if rng.random() < 0.3 else rng.choice(card_names)
        merchant, category, lat, lon = rng.choice(merchants)
        delay = rng.uniform(0, 3600) if rng.random() < late_share else rng.uniform(0, 1)
        rows.append((t + delay, i, card, merchant, category, lat, lon, t))
    rows.sort()  # arrival: event time plus a delivery delay
    out = []
    for arrival, (_, i, card, merchant, category, lat, lon, t) in enumerate(rows):
        out.append(
            CardTransaction(
                transaction_id=f"tx{i}",
                card=card,
                event_time=t,
                arrival=arrival,
                amount=round(rng.lognormvariate(3.5, 1.2), 2),
                merchant=merchant,
                category=category,
                merchant_lat=lat,
                merchant_lon=lon,
                home_lat=homes[card][0],
                home_lon=homes[card][1],
                city_pop=rng.randrange(100, 3_000_000),
                birth_date=date(
                    rng.randrange(1930, 2004), rng.randrange(1, 13), rng.randrange(1, 29)
                ),
                device=rng.choice(devices) if rng.random() < 0.8 else None,
                ip=rng.choice(ips) if rng.random() < 0.8 else None,
            )
        )
    return out


def entity_orders(history: list[CardTransaction], seed: int) -> list[CardTransaction]:
    """The history with each entity's own arrival order (a store that steps each entity on
    its own): the card keeps `arrival`; merchants, devices and IPs each receive runs of up
    to 20 consecutive transactions in a shuffled order, so that no one order of the whole
    history explains all four."""
    rng = random.Random(seed)
    positions: dict[Entity, list[int]] = {}
    for entity in (Entity.MERCHANT, Entity.DEVICE, Entity.IP):
        order = list(range(len(history)))
        for start in range(0, len(order), 20):
            run = order[start : start + 20]
            rng.shuffle(run)
            order[start : start + 20] = run
        positions[entity] = order
    by_arrival = sorted(range(len(history)), key=lambda i: history[i].arrival)
    out = list(history)
    for rank, i in enumerate(by_arrival):
        arrivals = {
            str(e): 1_000_000 * (n + 1) + p[rank] for n, (e, p) in enumerate(positions.items())
        }
        out[i] = replace(history[i], arrivals=arrivals)
    return out


def history_frame(spark, history: list[CardTransaction]):
    """The history as the backfill takes it: its columns, and each entity's own arrival
    position (`CardTransaction.arrival_in`)."""
    from fraudit.features.backfill import ENTITY_ARRIVAL_COLUMNS
    from fraudit.features.history import HISTORY_COLUMNS

    rows = [
        (
            *(getattr(tx, c) for c in HISTORY_COLUMNS),
            *(tx.arrival_in(e) for e in ENTITY_ARRIVAL_COLUMNS),
        )
        for tx in history
    ]
    schema = ", ".join(
        [
            "transaction_id string, card string, event_time double, arrival long, amount double",
            "merchant string, category string, merchant_lat double, merchant_lon double",
            "home_lat double, home_lon double, city_pop long, birth_date date, device string",
            "ip string",
            *(f"{c} long" for c in ENTITY_ARRIVAL_COLUMNS.values()),
        ]
    )
    return spark.createDataFrame(rows, schema)


def card_payload(tx: CardTransaction, shift_seconds: float = 0.0) -> dict:
    """The POST /predict body of a card transaction (its event time moved by `shift`)."""
    when = datetime.fromtimestamp(tx.event_time + shift_seconds, UTC)
    metadata: dict = {
        "transaction_id": tx.transaction_id,
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        "user_id": f"user-{tx.card}",
        "source": "parity-test",
    }
    if tx.device is not None:
        metadata["device_info"] = {"device_id": tx.device}
    if tx.ip is not None:
        metadata["ip_address"] = tx.ip
    return {
        "metadata": metadata,
        "transaction": {
            "card_token": tx.card,
            "amount": tx.amount,
            "merchant_id": tx.merchant,
            "merchant_category": tx.category,
            "merchant_lat": tx.merchant_lat,
            "merchant_lon": tx.merchant_lon,
            "home_lat": tx.home_lat,
            "home_lon": tx.home_lon,
            "city_pop": tx.city_pop,
            "date_of_birth": tx.birth_date.isoformat(),
        },
    }
