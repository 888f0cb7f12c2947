"""Transaction metadata for the simulator: who paid, from which device, IP and place.

A fixed population of users, each with a stable home country, city, device and IP.
Genuine rows mostly come from home; fraud rows show what fraud teams look for:
- account takeover from a new device,
- a foreign IP and country,
- an IP shared by many users (a fraud ring's proxy),
- a device shared by many users (a ring's emulator or device farm),
- bursts: frauds concentrate on a few compromised users, so one user sees several quickly.
Every row's metadata depends only on (seed, row index, label), so a replay resumed at any
offset produces the same payloads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

# (country, region, city, latitude, longitude, first octet block for home IPs)
CITIES: tuple[tuple[str, str, str, float, float, int], ...] = (
    ("US", "NY", "New York", 40.71, -74.01, 23),
    ("US", "CA", "San Francisco", 37.77, -122.42, 24),
    ("US", "TX", "Austin", 30.27, -97.74, 45),
    ("GB", "ENG", "London", 51.51, -0.13, 51),
    ("FR", "IDF", "Paris", 48.85, 2.35, 62),
    ("DE", "BE", "Berlin", 52.52, 13.40, 77),
    ("ES", "MD", "Madrid", 40.42, -3.70, 80),
    ("IT", "LAZ", "Rome", 41.90, 12.50, 93),
    ("NL", "NH", "Amsterdam", 52.37, 4.90, 94),
    ("BR", "SP", "Sao Paulo", -23.55, -46.63, 177),
    ("IN", "MH", "Mumbai", 19.08, 72.88, 103),
    ("JP", "13", "Tokyo", 35.68, 139.69, 126),
    ("AU", "NSW", "Sydney", -33.87, 151.21, 101),
    ("CA", "ON", "Toronto", 43.65, -79.38, 99),
)
# Places card-testing traffic is routed through, foreign to most of the population.
FRAUD_CITIES: tuple[tuple[str, str, str, float, float, int], ...] = (
    ("RU", "MOW", "Moscow", 55.76, 37.62, 95),
    ("NG", "LA", "Lagos", 6.52, 3.38, 105),
    ("RO", "B", "Bucharest", 44.43, 26.10, 86),
    ("VN", "SG", "Ho Chi Minh City", 10.82, 106.63, 113),
)
DEVICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mobile", ("iOS 17", "iOS 18", "Android 14", "Android 15")),
    ("desktop", ("Windows 11", "macOS 14", "Ubuntu 24.04")),
    ("tablet", ("iPadOS 17", "Android 14")),
)
APP_VERSIONS = ("2.3.0", "2.4.1", "2.5.0", "3.0.2")
SOURCES = ("checkout", "mobile_app", "web", "pos")
DEFAULT_START = datetime(2025, 8, 21, tzinfo=UTC)


@dataclass(frozen=True)
class User:
    user_id: str
    city: tuple[str, str, str, float, float, int]
    device: dict[str, str]
    ip_address: str
    source: str


def _device_id(rng: np.random.Generator) -> str:
    return "d_" + "".join(f"{int(b):02x}" for b in rng.integers(0, 256, size=8))


def _ip(rng: np.random.Generator, first_octet: int) -> str:
    a, b, c = rng.integers(1, 255, size=3)
    return f"{first_octet}.{a}.{b}.{c}"


class MetadataGenerator:
    """Deterministic metadata for row i of a replayed dataset."""

    def __init__(
        self,
        seed: int = 42,
        n_users: int = 5_000,
        n_compromised: int = 60,
        n_ring_ips: int = 8,
        n_ring_devices: int = 6,
        start: datetime = DEFAULT_START,
    ) -> None:
        if n_users < 1 or not 1 <= n_compromised <= n_users or n_ring_ips < 1 or n_ring_devices < 1:
            raise ValueError(
                "need n_users >= n_compromised >= 1, n_ring_ips >= 1 and n_ring_devices >= 1"
            )
        self.seed = seed
        self.start = start
        rng = np.random.default_rng([seed, 0])
        self.users = [self._make_user(rng, i) for i in range(n_users)]
        # Activity is skewed: a few users transact a lot, as in real card portfolios.
        weights = 1.0 / np.arange(1, n_users + 1) ** 0.6
        self._activity = np.cumsum(weights / weights.sum())
        self.compromised = rng.choice(n_users, size=n_compromised, replace=False)
        self.ring_ips = [
            _ip(rng, FRAUD_CITIES[i % len(FRAUD_CITIES)][5]) for i in range(n_ring_ips)
        ]
        self.ring_devices = [_device_id(rng) for _ in range(n_ring_devices)]

    @staticmethod
    def _make_user(rng: np.random.Generator, index: int) -> User:
        city = CITIES[int(rng.integers(len(CITIES)))]
        device_type, systems = DEVICES[int(rng.integers(len(DEVICES)))]
        device = {
            "device_id": _device_id(rng),
            "device_type": device_type,
            "os_version": systems[int(rng.integers(len(systems)))],
            "app_version": APP_VERSIONS[int(rng.integers(len(APP_VERSIONS)))],
        }
        return User(
            f"u_{index:06d}",
            city,
            device,
            _ip(rng, city[5]),
            SOURCES[int(rng.integers(len(SOURCES)))],
        )

    def _row_rng(self, index: int, label: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 1, index, label])

    def transaction_id(self, index: int) -> str:
        """Stable per (seed, row): a resumed or retried replay reuses it (idempotency key)."""
        digest = hashlib.sha256(f"{self.seed}:{index}".encode()).hexdigest()[:24]
        return f"tx_{digest}"

    def for_row(
        self,
        index: int,
        is_fraud: bool,
        time_seconds: float | None = None,
        timestamp: datetime | None = None,
    ) -> dict[str, Any]:
        """The `metadata` object of a /predict request for dataset row `index`."""
        rng = self._row_rng(index, int(is_fraud))
        if is_fraud:
            # Frauds cluster on compromised users: consecutive frauds hit the same few cards.
            user = self.users[int(self.compromised[(index // 3) % len(self.compromised)])]
        else:
            user = self.users[int(np.searchsorted(self._activity, rng.random()))]
        city, device, ip, source = user.city, dict(user.device), user.ip_address, user.source

        if is_fraud:
            if rng.random() < 0.7:  # account takeover from a device the user never used
                kind, systems = DEVICES[int(rng.integers(len(DEVICES)))]
                shared = rng.random() < 0.5  # a ring's device, seen with many cards
                device = {
                    "device_id": (
                        self.ring_devices[int(rng.integers(len(self.ring_devices)))]
                        if shared
                        else _device_id(rng)
                    ),
                    "device_type": kind,
                    "os_version": systems[int(rng.integers(len(systems)))],
                    "app_version": APP_VERSIONS[0],
                }
            roll = rng.random()
            if roll < 0.45:  # routed through a ring's shared proxy
                ip = self.ring_ips[int(rng.integers(len(self.ring_ips)))]
                city = FRAUD_CITIES[int(rng.integers(len(FRAUD_CITIES)))]
            elif roll < 0.8:  # a foreign country, fresh IP
                city = FRAUD_CITIES[int(rng.integers(len(FRAUD_CITIES)))]
                ip = _ip(rng, city[5])
            source = "web" if rng.random() < 0.6 else source
        elif rng.random() < 0.08:  # genuine travel or a new network at home
            city = CITIES[int(rng.integers(len(CITIES)))]
            ip = _ip(rng, city[5])

        if timestamp is None:
            seconds = float(index) if time_seconds is None else float(time_seconds)
            timestamp = self.start + timedelta(seconds=seconds)
        country, region, name, lat, lon, _ = city
        jitter = rng.normal(0.0, 0.05, size=2)
        return {
            "transaction_id": self.transaction_id(index),
            "timestamp": timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "user_id": user.user_id,
            "source": source,
            "device_info": device,
            "ip_address": ip,
            "geo": {
                "country": country,
                "region": region,
                "city": name,
                "latitude": round(lat + float(jitter[0]), 4),
                "longitude": round(lon + float(jitter[1]), 4),
            },
        }
