"""Card transactions with histories, simulated: cardholders with a home, an age and spending
habits; merchants with places; a year or more of transactions; fraud as labelled scenarios
that need history to see, each with the date its chargeback arrives. docs/SIMULATOR.md says
how every part is drawn and what it is calibrated to.

Calibrated to the real Sparkov rows (`fraudit.data.sparkov_profile.load_calibration`): the
genuine and fraud category mix, hour of day and amount distribution per category, the fraud
rate, the number of frauds per defrauded card and the span of their bursts, and the homes,
city populations, birth dates and genders of the real cardholders. Everything is drawn with
numpy arrays from one seeded generator: the same configuration and seed give the same rows.

Card tokens (`card_` and 16 base32 letters) stand for cards; no card number is made.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.special import ndtr

from fraudit.data.sparkov_profile import SimulatorCalibration, load_calibration
from fraudit.features.definitions import CATEGORIES, DAY, HOUR, MINUTE, channel_of

GENUINE = "genuine"
COMPROMISED_CARD = "compromised_card"
CARD_TESTING = "card_testing"
COMPROMISED_MERCHANT = "compromised_merchant"
ACCOUNT_TAKEOVER = "account_takeover"
SCENARIOS = (GENUINE, COMPROMISED_CARD, CARD_TESTING, COMPROMISED_MERCHANT, ACCOUNT_TAKEOVER)

# The columns of a simulated history: the history-file columns the feature backfill reads
# (fraudit.features.history_files), then the cardholder's gender and the labels.
COLUMNS = (
    "transaction_id", "card", "event_time", "arrival", "amount", "merchant", "category",
    "merchant_lat", "merchant_lon", "home_lat", "home_lon", "city_pop", "birth_date",
    "device", "ip", "gender", "is_fraud", "scenario", "chargeback_time",
)  # fmt: skip

# The year of the real rows' transactions: birth dates move with the simulated period so
# that ages stay those of the real cardholders.
CALIBRATION_YEAR = 2020
NET = np.array([channel_of(c) == "net" for c in CATEGORIES])


class CardSimulationConfig(BaseModel):
    """What to simulate. The defaults give a Sparkov-like year: ~3 transactions per card
    and day, the real fraud rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transactions: int = Field(1_000_000, ge=1_000, le=10_000_000)
    days: int = Field(365, ge=30, le=3_650)
    start: date = date(CALIBRATION_YEAR, 1, 1)
    seed: int = Field(0, ge=0)
    fraud_rate: float | None = Field(
        None, gt=0, lt=0.2, description="share of fraud rows; default the calibration's"
    )
    transactions_per_card_day: float = Field(3.0, gt=0, le=100)
    # Of the fraud rows, the share each scenario makes (normalised to 1).
    compromised_card_share: float = Field(0.60, ge=0)
    card_testing_share: float = Field(0.10, ge=0)
    compromised_merchant_share: float = Field(0.18, ge=0)
    account_takeover_share: float = Field(0.12, ge=0)
    # Of compromised cards, the share used far from home (a cloned card in another place).
    far_away_share: float = Field(0.3, ge=0, le=1)
    # Of all transactions, the share delivered up to hours late (out of event-time order).
    late_share: float = Field(0.01, ge=0, le=0.5)
    chargeback_mean_days: float = Field(15.0, ge=2, le=60)
    # How strongly a card's amounts go together (Gaussian copula correlation).
    amount_habit: float = Field(0.5, ge=0, lt=1)
    # Every amount times this: a market with other prices than the calibration's (a shift a
    # model meets in production; docs/MODELS.md measures the review band under it).
    amount_scale: float = Field(1.0, gt=0, le=100)

    @model_validator(mode="after")
    def _some_fraud(self) -> CardSimulationConfig:
        if sum(self.scenario_shares().values()) <= 0:
            raise ValueError("at least one fraud scenario needs a share above 0")
        return self

    def scenario_shares(self) -> dict[str, float]:
        return {
            COMPROMISED_CARD: self.compromised_card_share,
            CARD_TESTING: self.card_testing_share,
            COMPROMISED_MERCHANT: self.compromised_merchant_share,
            ACCOUNT_TAKEOVER: self.account_takeover_share,
        }


@dataclass(frozen=True)
class _World:
    """Cards, merchants, devices and IP addresses, by index."""

    card_token: np.ndarray  # str per card
    card_cell: np.ndarray  # int per card
    home_lat: np.ndarray
    home_lon: np.ndarray
    city_pop: np.ndarray
    birth_date: np.ndarray  # date per card
    gender: np.ndarray
    activity: np.ndarray  # relative transaction rate
    category_cumulative: np.ndarray  # cards x categories
    amount_habit: np.ndarray  # standard normal per card
    devices: np.ndarray  # cards x 2, -1 for none
    home_ip: np.ndarray
    pool_offset: np.ndarray  # cells x categories: where the merchants of a cell begin
    pool_size: np.ndarray
    merchant_lat: np.ndarray
    merchant_lon: np.ndarray
    cells: int


@dataclass
class _Rows:
    """Transactions as parallel arrays (indices into the world)."""

    card: np.ndarray
    time: np.ndarray  # int64 Unix seconds
    category: np.ndarray
    amount: np.ndarray
    merchant: np.ndarray
    device: np.ndarray  # -1: none
    ip: np.ndarray
    scenario: np.ndarray  # index into SCENARIOS
    chargeback: np.ndarray  # int64 Unix seconds, -1 for genuine


class _Ids:
    """Devices and IP addresses as they are handed out: index -> text."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.devices: list[str] = []
        self.ips: list[str] = []

    def new_devices(self, n: int) -> np.ndarray:
        start = len(self.devices)
        self.devices.extend(f"dev_{self.rng.bytes(6).hex()}" for _ in range(n))
        return np.arange(start, start + n)

    def new_ips(self, n: int) -> np.ndarray:
        """Addresses of homes and fraudsters: IPv4 with a first octet of 11 to 99."""
        start = len(self.ips)
        octets = self.rng.integers(0, 256, size=(n, 4))
        octets[:, 0] = self.rng.integers(11, 100, size=n)
        octets[:, 3] = np.maximum(octets[:, 3], 1)
        self.ips.extend(".".join(str(o) for o in row) for row in octets.tolist())
        return np.arange(start, start + n)

    def new_carrier_ips(self, n: int) -> np.ndarray:
        """Mobile carriers' shared addresses (100.64.0.0/10): many cards behind each."""
        start = len(self.ips)
        cells = self.rng.integers(0, 1 << 22, size=n)
        self.ips.extend(
            f"100.{64 + (c >> 16)}.{(c >> 8) & 255}.{max(c & 255, 1)}" for c in cells.tolist()
        )
        return np.arange(start, start + n)


def _tokens(rng: np.random.Generator, n: int) -> np.ndarray:
    """`card_` and 16 base32 letters (80 random bits), like imported Sparkov cards."""
    return np.array(
        ["card_" + base64.b32encode(rng.bytes(10)).decode("ascii").lower() for _ in range(n)],
        dtype=object,
    )


def _shift_years(born: date, years: int) -> date:
    try:
        return born.replace(year=born.year + years)
    except ValueError:  # 29 February
        return born.replace(year=born.year + years, day=28)


def _world(
    rng: np.random.Generator, cal: SimulatorCalibration, config: CardSimulationConfig, cards: int
) -> tuple[_World, _Ids]:
    holders = cal.cardholders
    chosen = rng.integers(0, len(holders), size=cards)
    # Homes near the real cardholders' homes (a few km apart: neighbours, not the same house).
    lat = np.array([holders[i][0] for i in chosen]) + rng.normal(0, 0.03, cards)
    lon = np.array([holders[i][1] for i in chosen]) + rng.normal(0, 0.03, cards)
    years = config.start.year - CALIBRATION_YEAR
    born = np.array(
        [_shift_years(date.fromisoformat(holders[i][3]), years) for i in chosen], dtype=object
    )
    # Spending habits: a transaction rate, a category mix around the real genuine mix, and
    # an amount level (through a copula, so each category's amounts keep their real spread).
    genuine_mix = np.array([cal.genuine_category_share[c] for c in CATEGORIES])
    mix = rng.dirichlet(50 * genuine_mix + 1e-3, size=cards)
    # Merchants: for each 1-degree cell with homes in it, a few per category (card-present
    # shopping is local); online merchants form one national pool per category.
    cell_keys = np.floor(lat).astype(np.int64) * 1_000 + np.floor(lon).astype(np.int64)
    unique_cells, card_cell = np.unique(cell_keys, return_inverse=True)
    cards_in_cell = np.bincount(card_cell, minlength=len(unique_cells))
    cells = len(unique_cells)
    offset = np.zeros((cells, len(CATEGORIES)), dtype=np.int64)
    size = np.zeros((cells, len(CATEGORIES)), dtype=np.int64)
    m_lat: list[np.ndarray] = []
    m_lon: list[np.ndarray] = []
    count = 0
    cell_lat = np.floor(unique_cells / 1_000 + 0.5).astype(np.int64)
    cell_lon = unique_cells - cell_lat * 1_000
    for c, _category in enumerate(CATEGORIES):
        if NET[c]:
            n = 50
            homes = rng.integers(0, cards, size=n)
            offset[:, c], size[:, c] = count, n
            m_lat.append(lat[homes] + rng.normal(0, 0.05, n))
            m_lon.append(lon[homes] + rng.normal(0, 0.05, n))
            count += n
            continue
        per_cell = 3 + cards_in_cell
        offset[:, c] = count + np.concatenate([[0], np.cumsum(per_cell)[:-1]])
        size[:, c] = per_cell
        owner = np.repeat(np.arange(cells), per_cell)
        m_lat.append(cell_lat[owner] + rng.random(len(owner)))
        m_lon.append(cell_lon[owner] + rng.random(len(owner)))
        count += int(per_cell.sum())
    ids = _Ids(rng)
    devices = np.full((cards, 2), -1, dtype=np.int64)
    devices[:, 0] = ids.new_devices(cards)
    second = np.flatnonzero(rng.random(cards) < 0.4)
    devices[second, 1] = ids.new_devices(len(second))
    home_ip = ids.new_ips(cards)
    # A tenth of cards share a household (and its address) with another card.
    shared = np.flatnonzero(rng.random(cards) < 0.1)
    home_ip[shared] = home_ip[rng.integers(0, cards, size=len(shared))]
    world = _World(
        card_token=_tokens(rng, cards),
        card_cell=card_cell,
        home_lat=lat,
        home_lon=lon,
        city_pop=np.array([holders[i][2] for i in chosen], dtype=np.int64),
        birth_date=born,
        gender=np.array([holders[i][4] for i in chosen], dtype=object),
        activity=rng.gamma(2.0, 0.5, size=cards),
        category_cumulative=np.cumsum(mix, axis=1),
        amount_habit=rng.standard_normal(cards),
        devices=devices,
        home_ip=home_ip,
        pool_offset=offset,
        pool_size=size,
        merchant_lat=np.concatenate(m_lat),
        merchant_lon=np.concatenate(m_lon),
        cells=cells,
    )
    return world, ids


def _amounts(
    u: np.ndarray,
    category: np.ndarray,
    percentiles: list[float],
    grid: dict[str, list[float]],
    scale: float,
) -> np.ndarray:
    """Inverse of each category's amount distribution (linear between its percentiles),
    times `scale`."""
    out = np.empty(len(u))
    for c, name in enumerate(CATEGORIES):
        rows = category == c
        if rows.any():
            out[rows] = np.interp(u[rows], percentiles, grid[name])
    return np.maximum(np.round(out * scale, 2), 0.01)


def _merchants(
    rng: np.random.Generator, world: _World, cell: np.ndarray, category: np.ndarray
) -> np.ndarray:
    """A merchant of the category in the cell (online ones: the national pool); a few of
    each pool take most of its custom."""
    u = rng.random(len(cell))
    size = world.pool_size[cell, category]
    return world.pool_offset[cell, category] + np.minimum((size * u**2).astype(np.int64), size - 1)


def _at_hours(rng: np.random.Generator, day_starts: np.ndarray, shares: list[float]) -> np.ndarray:
    """A time in each day: the hour drawn from `shares`, the second within it uniform."""
    p = np.asarray(shares, dtype=float)
    n = len(day_starts)
    hours = rng.choice(24, size=n, p=p / p.sum()).astype(np.int64)
    return day_starts + hours * HOUR + rng.integers(0, HOUR, size=n)


def _genuine(
    rng: np.random.Generator,
    cal: SimulatorCalibration,
    world: _World,
    ids: _Ids,
    n: int,
    config: CardSimulationConfig,
    start: int,
) -> _Rows:
    card = np.repeat(
        np.arange(len(world.activity)),
        rng.multinomial(n, world.activity / world.activity.sum()),
    )
    time = _at_hours(
        rng, start + rng.integers(0, config.days, size=n) * DAY, cal.genuine_hour_share
    )
    u = rng.random(n)
    category = np.minimum(
        (u[:, None] > world.category_cumulative[card]).sum(axis=1), len(CATEGORIES) - 1
    )
    rho = config.amount_habit
    z = rho * world.amount_habit[card] + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    amount = _amounts(
        ndtr(z), category, cal.amount_percentiles, cal.genuine_amounts, config.amount_scale
    )
    net = NET[category]
    second = world.devices[card, 1]
    use_second = (second >= 0) & (rng.random(n) < 0.3)
    device = np.where(net, np.where(use_second, second, world.devices[card, 0]), -1)
    carrier = ids.new_carrier_ips(64)
    on_mobile = rng.random(n) < 0.15
    ip = np.where(
        net, np.where(on_mobile, carrier[rng.integers(0, 64, size=n)], world.home_ip[card]), -1
    )
    return _Rows(
        card=card,
        time=time,
        category=category,
        amount=amount,
        merchant=_merchants(rng, world, world.card_cell[card], category),
        device=device,
        ip=ip,
        scenario=np.zeros(n, dtype=np.int64),
        chargeback=np.full(n, -1, dtype=np.int64),
    )


# How a fraud row chooses its category: from the residual of the real fraud mix (what the
# fixed-category rows leave), among the probe categories, or among the online ones.
_FREE, _PROBE, _ONLINE = 0, 1, 2


@dataclass
class _Episode:
    card: int
    times: np.ndarray
    roles: np.ndarray
    scenario: int
    cell: int
    device: np.ndarray  # per row, -1: decided by category (fresh device for online rows)
    ip: np.ndarray


class _FraudPlanner:
    """Fraud episodes, scenario by scenario, until each has its share of the fraud rows."""

    def __init__(
        self,
        rng: np.random.Generator,
        cal: SimulatorCalibration,
        world: _World,
        ids: _Ids,
        genuine: _Rows,
        config: CardSimulationConfig,
        start: int,
    ) -> None:
        self.rng, self.cal, self.world, self.ids = rng, cal, world, ids
        self.genuine, self.config = genuine, config
        self.start, self.end = start, start + config.days * DAY
        self.cards = len(world.activity)
        # Rings: a few devices and addresses behind many victims (the shared-device signal).
        self.testing_devices, self.testing_ips = ids.new_devices(8), ids.new_ips(8)
        self.takeover_devices, self.takeover_ips = ids.new_devices(15), ids.new_ips(20)
        self.by_merchant = np.lexsort((genuine.time, genuine.merchant))
        # A card is stolen once (then reissued): victims are drawn without repetition until
        # every card has been one.
        self._victims: list[int] = []

    def _victim(self) -> int:
        if not self._victims:
            self._victims = self.rng.permutation(self.cards).tolist()
        return self._victims.pop()

    def _night_time(self, day_start: int) -> int:
        return int(_at_hours(self.rng, np.array([day_start]), self.cal.fraud_hour_share)[0])

    def _fraud_hours(self, after: int, k: int, days: int) -> np.ndarray:
        """k times after `after`, each at a fraud hour of one of the `days` days from its
        day on (a time before `after` moves a day on)."""
        rng = self.rng
        day = after // DAY * DAY + rng.integers(0, days, k) * DAY
        times = _at_hours(rng, day, self.cal.fraud_hour_share)
        return np.sort(np.where(times <= after, times + DAY, times))

    def _day(self, low: int, high: int) -> int:
        return low + int(self.rng.integers(0, max(1, (high - low) // DAY))) * DAY

    def _burst(self, card: int, begin: int, scenario: int, far: bool) -> _Episode:
        """Frauds on a compromised card as in the real rows: as many as a real defrauded
        card had, over as many hours, each at a fraud hour of its day."""
        rng, cal = self.rng, self.cal
        k = int(rng.choice(cal.fraud_rows_per_card))
        span = float(rng.choice(cal.fraud_span_hours)) * HOUR
        offsets = np.sort(rng.random(k) * span).astype(np.int64)
        times = _at_hours(rng, (begin + offsets) // DAY * DAY, cal.fraud_hour_share)
        cell = int(rng.integers(0, self.world.cells)) if far else int(self.world.card_cell[card])
        none = np.full(k, -1, dtype=np.int64)
        return _Episode(card, np.sort(times), np.full(k, _FREE), scenario, cell, none, none.copy())

    def compromised_card(self) -> list[_Episode]:
        card = self._victim()
        begin = self._day(self.start + DAY, self.end - 2 * DAY)
        far = bool(self.rng.random() < self.config.far_away_share)
        return [self._burst(card, begin, SCENARIOS.index(COMPROMISED_CARD), far)]

    def card_testing(self) -> list[_Episode]:
        """Tiny amounts minutes apart, then large ones within two days, from a tester's device."""
        rng = self.rng
        card = self._victim()
        first = self._night_time(self._day(self.start + DAY, self.end - DAY))
        probes = int(rng.integers(3, 7))
        probe_times = first + np.cumsum(rng.integers(20, 10 * MINUTE, probes))
        large_times = self._fraud_hours(probe_times[-1], int(rng.integers(1, 4)), days=2)
        large = len(large_times)
        roles = np.array([_PROBE] * probes + [_FREE] * large)
        k = probes + large
        device = np.full(k, self.testing_devices[rng.integers(0, len(self.testing_devices))])
        ip = np.full(k, self.testing_ips[rng.integers(0, len(self.testing_ips))])
        times = np.concatenate([probe_times, large_times])
        cell = int(self.world.card_cell[card])
        return [_Episode(card, times, roles, SCENARIOS.index(CARD_TESTING), cell, device, ip)]

    def compromised_merchant(self) -> list[_Episode]:
        """A merchant leaks the cards used there for two weeks; some of them are defrauded
        days to weeks later."""
        rng, g = self.rng, self.genuine
        seed_row = int(rng.integers(0, len(g.time)))
        merchant, opened = int(g.merchant[seed_row]), int(g.time[seed_row])
        ordered_merchants = g.merchant[self.by_merchant]
        low, high = np.searchsorted(ordered_merchants, [merchant, merchant + 1])
        rows = self.by_merchant[low:high]
        rows = rows[(g.time[rows] >= opened) & (g.time[rows] < opened + 14 * DAY)]
        cards, first_visit = np.unique(g.card[rows], return_index=True)
        take = rng.permutation(len(cards))[: int(rng.integers(3, 26))]
        episodes = []
        for i in take:
            begin = int(g.time[rows[first_visit[i]]]) + int(rng.integers(2 * DAY, 30 * DAY))
            if begin < self.end - DAY:
                far = bool(rng.random() < self.config.far_away_share)
                scenario = SCENARIOS.index(COMPROMISED_MERCHANT)
                episodes.append(self._burst(int(cards[i]), begin // DAY * DAY, scenario, far))
        return episodes

    def account_takeover(self) -> list[_Episode]:
        """Online purchases over up to two days from a device and address of a takeover ring."""
        rng = self.rng
        card = self._victim()
        first = self._night_time(self._day(self.start + DAY, self.end - 2 * DAY))
        times = self._fraud_hours(first, int(rng.integers(2, 8)), days=2)
        k = len(times)
        device = np.full(k, self.takeover_devices[rng.integers(0, len(self.takeover_devices))])
        ip = np.full(k, self.takeover_ips[rng.integers(0, len(self.takeover_ips))])
        cell = int(self.world.card_cell[card])
        roles = np.full(k, _ONLINE)
        return [_Episode(card, times, roles, SCENARIOS.index(ACCOUNT_TAKEOVER), cell, device, ip)]

    def episodes(self, targets: dict[str, int]) -> list[_Episode]:
        """Each scenario's episodes until its rows reach its target; the last is cut."""
        out: list[_Episode] = []
        makers: dict[str, Callable[[], list[_Episode]]] = {
            COMPROMISED_CARD: self.compromised_card,
            CARD_TESTING: self.card_testing,
            COMPROMISED_MERCHANT: self.compromised_merchant,
            ACCOUNT_TAKEOVER: self.account_takeover,
        }
        for scenario, target in targets.items():
            rows, attempts = 0, 0
            while rows < target:
                attempts += 1
                if attempts > 100 * target + 1_000:  # pragma: no cover - a planning bug
                    raise RuntimeError(f"cannot place {target} {scenario} rows")
                for episode in makers[scenario]():
                    keep = episode.times < self.end
                    keep[np.cumsum(keep) > target - rows] = False
                    if keep.any():
                        episode.times, episode.roles = episode.times[keep], episode.roles[keep]
                        episode.device, episode.ip = episode.device[keep], episode.ip[keep]
                        out.append(episode)
                        rows += int(keep.sum())
        return out


def _split(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Largest-remainder rounding of total x share (shares normalised)."""
    weight = sum(shares.values())
    exact = {k: total * v / weight for k, v in shares.items()}
    out = {k: int(v) for k, v in exact.items()}
    short = total - sum(out.values())
    for k in sorted(exact, key=lambda k: exact[k] - out[k], reverse=True)[:short]:
        out[k] += 1
    return out


def _fraud_rows(
    rng: np.random.Generator,
    cal: SimulatorCalibration,
    world: _World,
    ids: _Ids,
    episodes: list[_Episode],
    config: CardSimulationConfig,
) -> _Rows:
    n = sum(len(e.times) for e in episodes)
    roles = np.concatenate([e.roles for e in episodes])
    fraud_mix = np.array([cal.fraud_category_share[c] for c in CATEGORIES])
    category = np.empty(n, dtype=np.int64)
    probe = np.isin(np.array(CATEGORIES), cal.probe_categories)
    for role, allowed in ((_PROBE, probe), (_ONLINE, NET)):
        rows = roles == role
        p = np.where(allowed, fraud_mix, 0.0)
        category[rows] = rng.choice(len(CATEGORIES), size=int(rows.sum()), p=p / p.sum())
    # The free rows make up the rest of the real fraud mix.
    fixed = np.bincount(category[roles != _FREE], minlength=len(CATEGORIES))
    residual = np.maximum(n * fraud_mix - fixed, 0)
    free = roles == _FREE
    category[free] = rng.choice(len(CATEGORIES), size=int(free.sum()), p=residual / residual.sum())
    card = np.concatenate([np.full(len(e.times), e.card) for e in episodes])
    cell = np.concatenate([np.full(len(e.times), e.cell) for e in episodes])
    device = np.concatenate([e.device for e in episodes])
    ip = np.concatenate([e.ip for e in episodes])
    # A stolen card's online use comes from the thief's own device and address.
    episode_of = np.repeat(np.arange(len(episodes)), [len(e.times) for e in episodes])
    thief_device, thief_ip = ids.new_devices(len(episodes)), ids.new_ips(len(episodes))
    online = (device < 0) & NET[category]
    device[online], ip[online] = thief_device[episode_of[online]], thief_ip[episode_of[online]]
    # Chargebacks: the cardholder disputes the whole episode a day to weeks after its end.
    mean_after_first_day = config.chargeback_mean_days - 1
    delay = DAY * (1 + rng.gamma(2.0, mean_after_first_day / 2, size=len(episodes)))
    ends = np.array([int(e.times.max()) for e in episodes], dtype=np.int64)
    chargeback = ends + np.minimum(delay, 90 * DAY).astype(np.int64)
    return _Rows(
        card=card,
        time=np.concatenate([e.times for e in episodes]).astype(np.int64),
        category=category,
        amount=_amounts(
            rng.random(n), category, cal.amount_percentiles, cal.fraud_amounts, config.amount_scale
        ),
        merchant=_merchants(rng, world, cell, category),
        device=device,
        ip=ip,
        scenario=np.concatenate([np.full(len(e.times), e.scenario) for e in episodes]),
        chargeback=chargeback[episode_of],
    )


def _arrival(rng: np.random.Generator, time: np.ndarray, late_share: float) -> np.ndarray:
    """Delivery order: most arrive within two seconds, `late_share` up to hours late."""
    late = rng.random(len(time)) < late_share
    delay = np.where(late, rng.exponential(20 * MINUTE, len(time)), rng.random(len(time)) * 2)
    return np.lexsort((np.arange(len(time)), time + delay))


def simulate(
    config: CardSimulationConfig,
    calibration: SimulatorCalibration | None = None,
    progress: Callable[[str], None] = lambda _: None,
    *,
    keep_from: int | None = None,
) -> pd.DataFrame:
    """The simulated history, one row per transaction in arrival order (COLUMNS). With
    `keep_from` (Unix seconds), only the transactions dated from then on, each with the
    transaction_id it has in the whole history."""
    cal = calibration or load_calibration()
    rng = np.random.default_rng(config.seed)
    rate = config.fraud_rate if config.fraud_rate is not None else cal.fraud_rate
    frauds = max(1, round(config.transactions * rate))
    genuine_rows = config.transactions - frauds
    cards = max(20, round(genuine_rows / (config.days * config.transactions_per_card_day)))
    start = int(datetime.combine(config.start, datetime.min.time(), UTC).timestamp())
    world, ids = _world(rng, cal, config, cards)
    progress(f"{cards:,} cards, {len(world.merchant_lat):,} merchants")
    genuine = _genuine(rng, cal, world, ids, genuine_rows, config, start)
    progress(f"{genuine_rows:,} genuine transactions")
    planner = _FraudPlanner(rng, cal, world, ids, genuine, config, start)
    targets = _split(frauds, config.scenario_shares())
    fraud = _fraud_rows(rng, cal, world, ids, planner.episodes(targets), config)
    mix = ", ".join(f"{k} {v:,}" for k, v in targets.items())
    progress(f"{frauds:,} fraud transactions: {mix}")
    rows = _Rows(
        **{
            name: np.concatenate([getattr(genuine, name), getattr(fraud, name)])
            for name in _Rows.__dataclass_fields__
        }
    )
    order = _arrival(rng, rows.time, config.late_share)
    position = np.arange(len(order))
    if keep_from is not None:
        kept = rows.time[order] >= keep_from
        order, position = order[kept], position[kept]
    return _frame(world, ids, rows, order, position)


def _frame(
    world: _World, ids: _Ids, rows: _Rows, order: np.ndarray, position: np.ndarray
) -> pd.DataFrame:
    def pick(values: np.ndarray) -> np.ndarray:
        return values[order]

    card, merchant = pick(rows.card), pick(rows.merchant)
    devices = np.array([*ids.devices, None], dtype=object)  # index -1: none
    ips = np.array([*ids.ips, None], dtype=object)
    merchant_ids = np.array([f"merchant_{i:06d}" for i in range(len(world.merchant_lat))])
    chargeback = pick(rows.chargeback)
    return pd.DataFrame(
        {
            "transaction_id": [f"tx_{i:09d}" for i in position.tolist()],
            "card": world.card_token[card],
            "event_time": pick(rows.time),
            "arrival": position.astype(np.int64),
            "amount": pick(rows.amount),
            "merchant": merchant_ids[merchant],
            "category": np.array(CATEGORIES, dtype=object)[pick(rows.category)],
            "merchant_lat": np.round(world.merchant_lat[merchant], 6),
            "merchant_lon": np.round(world.merchant_lon[merchant], 6),
            "home_lat": np.round(world.home_lat[card], 6),
            "home_lon": np.round(world.home_lon[card], 6),
            "city_pop": world.city_pop[card],
            "birth_date": world.birth_date[card],
            "device": devices[pick(rows.device)],
            "ip": ips[pick(rows.ip)],
            "gender": world.gender[card],
            "is_fraud": pick(rows.scenario) > 0,
            "scenario": np.array(SCENARIOS, dtype=object)[pick(rows.scenario)],
            "chargeback_time": pd.array(
                [None if c < 0 else int(c) for c in chargeback.tolist()], dtype="Int64"
            ),
        },
        columns=list(COLUMNS),
    )


def write_history(frame: pd.DataFrame, out: Path) -> None:
    """Parquet for `.parquet`, else CSV (gzipped for `.gz`): the backfill reads both."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False, date_format="%Y-%m-%d")


def simulate_to_file(config: CardSimulationConfig, out: Path, say: Callable[[str], None]) -> None:
    """Simulate `config`'s history and write it to `out` (Parquet, CSV or CSV.gz), saying
    how it went: `fraudit generate-cards`, the demo's and the soak's histories."""
    started = time.perf_counter()
    say(f"simulating {config.transactions:,} card transactions over {config.days} days")
    history = simulate(config, progress=lambda step: say(f"  {step}"))
    say(f"  writing {out}")
    write_history(history, out)
    frauds = int(history.is_fraud.sum())
    say(
        f"wrote {out}: {len(history):,} transactions, {frauds:,} frauds "
        f"({frauds / len(history):.3%}), {history.card.nunique():,} cards in "
        f"{time.perf_counter() - started:.1f} s"
    )
