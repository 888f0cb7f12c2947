"""What the card-transaction simulator is calibrated to: statistics of the real Sparkov rows
committed in dataset/samples/sparkov_test_sample.csv.gz.

That sample holds every fraud of Sparkov's fraudTest.csv (2,145) but only 5,000 of its
553,574 genuine rows, so each genuine row stands for many: statistics that mix the classes
weight genuine rows so that the fraud rate is the file's own (0.386%). Only the *earlier*
half of the sample by `unix_time` is used; the later half is kept for the sim-to-real check
(a model trained on simulated data scored on real rows the simulator never saw).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from fraudit.features.definitions import CATEGORIES

# fraudTest.csv: 555,719 rows, 2,145 frauds.
SPARKOV_TEST_ROWS = 555_719
SPARKOV_TEST_FRAUDS = 2_145
SPARKOV_TEST_FRAUD_RATE = SPARKOV_TEST_FRAUDS / SPARKOV_TEST_ROWS
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class SparkovRow:
    unix_time: int
    hour: int
    category: str
    amount: float
    is_fraud: bool
    # The cardholder, for the simulator's homes and ages (absent in hand-built rows).
    card: str = ""
    home_lat: float = 0.0
    home_lon: float = 0.0
    city_pop: int = 0
    birth_date: str = ""  # YYYY-MM-DD
    gender: str = ""
    merchant_lat: float = 0.0
    merchant_lon: float = 0.0
    local_time: float = 0.0  # the file's clock time read as UTC seconds (as the simulator does)


@dataclass(frozen=True)
class SparkovProfile:
    rows: int
    frauds: int
    fraud_rate: float
    genuine_weight: float
    category_share: dict[str, float]  # of all traffic, production-weighted
    fraud_share_by_category: dict[str, float]
    fraud_share_by_hour: dict[int, float]
    genuine_amount_quantiles: dict[str, list[float]]
    fraud_amount_quantiles: dict[str, list[float]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_rows(path: Path) -> list[SparkovRow]:
    """A Sparkov file (fraudTrain/fraudTest or a sample, gzipped or not)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        return [_row(record, reader.line_num) for record in reader]


def _row(record: dict[str, str], line: int) -> SparkovRow:
    try:
        when = datetime.strptime(record["trans_date_trans_time"], "%Y-%m-%d %H:%M:%S")
        category = record["category"]
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}")
        return SparkovRow(
            unix_time=int(record["unix_time"]),
            hour=when.hour,  # the local clock time the file gives, not unix_time's
            category=category,
            amount=float(record["amt"]),
            is_fraud=record["is_fraud"] == "1",
            card=record["cc_num"],
            home_lat=float(record["lat"]),
            home_lon=float(record["long"]),
            city_pop=int(record["city_pop"]),
            birth_date=datetime.strptime(record["dob"], "%Y-%m-%d").date().isoformat(),
            gender=record["gender"],
            merchant_lat=float(record["merch_lat"]),
            merchant_lon=float(record["merch_long"]),
            local_time=when.replace(tzinfo=UTC).timestamp(),
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"line {line}: not a Sparkov row ({exc})") from None


def halves(rows: Iterable[SparkovRow]) -> tuple[list[SparkovRow], list[SparkovRow]]:
    """Earlier and later halves by unix_time (rows at the median time go to the later)."""
    ordered = sorted(rows, key=lambda r: r.unix_time)
    cut = ordered[len(ordered) // 2].unix_time
    return [r for r in ordered if r.unix_time < cut], [r for r in ordered if r.unix_time >= cut]


def _quantiles(values: list[float], quantiles: tuple[float, ...] = QUANTILES) -> list[float]:
    """Linear-interpolation quantiles (numpy's default), pure Python."""
    ordered = sorted(values)
    out = []
    for q in quantiles:
        position = q * (len(ordered) - 1)
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        out.append(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
    return out


def profile(
    rows: list[SparkovRow], fraud_rate: float | None = SPARKOV_TEST_FRAUD_RATE
) -> SparkovProfile:
    """The statistics; `fraud_rate` None takes the rows as they are (no reweighting)."""
    frauds = [r for r in rows if r.is_fraud]
    genuine = [r for r in rows if not r.is_fraud]
    if not frauds or not genuine:
        raise ValueError("a profile needs fraud and genuine rows")
    # Each genuine row weighs w so that frauds / (frauds + w * genuine) = fraud_rate.
    w = 1.0 if fraud_rate is None else len(frauds) * (1 - fraud_rate) / (fraud_rate * len(genuine))
    fraud_by_category = Counter(r.category for r in frauds)
    genuine_by_category = Counter(r.category for r in genuine)
    fraud_by_hour = Counter(r.hour for r in frauds)
    genuine_by_hour = Counter(r.hour for r in genuine)
    total = len(frauds) + w * len(genuine)

    def share(f: int, g: int) -> float:
        return f / (f + w * g) if f + g else 0.0

    def amounts(part: list[SparkovRow], category: str) -> list[float]:
        values = [r.amount for r in part if r.category == category]
        return _quantiles(values) if values else []

    return SparkovProfile(
        rows=len(rows),
        frauds=len(frauds),
        fraud_rate=len(frauds) / total,
        genuine_weight=w,
        category_share={
            c: (fraud_by_category[c] + w * genuine_by_category[c]) / total for c in CATEGORIES
        },
        fraud_share_by_category={
            c: share(fraud_by_category[c], genuine_by_category[c]) for c in CATEGORIES
        },
        fraud_share_by_hour={h: share(fraud_by_hour[h], genuine_by_hour[h]) for h in range(24)},
        genuine_amount_quantiles={c: amounts(genuine, c) for c in CATEGORIES},
        fraud_amount_quantiles={c: amounts(frauds, c) for c in CATEGORIES},
    )


# The simulator draws amounts by inverting these percentiles of the real amounts per class
# and category (linear between them): the tails down to the smallest and up to the largest.
AMOUNT_PERCENTILES = (0, 1, 2.5, 5, *range(10, 95, 5), 95, 97.5, 99, 100)
# A category is a card-testing probe category where nearly every real fraud is small.
PROBE_FRAUD_P95 = 60.0


@dataclass(frozen=True)
class SimulatorCalibration:
    """Everything the card simulator takes from the real rows (`calibration`), stored in
    fraudit/data/sparkov_calibration.json so that the simulator needs no dataset."""

    source: str
    fraud_rate: float
    genuine_category_share: dict[str, float]
    fraud_category_share: dict[str, float]
    genuine_hour_share: list[float]
    fraud_hour_share: list[float]
    amount_percentiles: list[float]
    genuine_amounts: dict[str, list[float]]
    fraud_amounts: dict[str, list[float]]
    probe_categories: list[str]
    # Per defrauded card of the sample: how many frauds, over how many hours (first to last).
    fraud_rows_per_card: list[int]
    fraud_span_hours: list[float]
    # One per real cardholder: home latitude, longitude, city population, birth date, gender.
    cardholders: list[tuple[float, float, int, str, str]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulatorCalibration:
        fields = dict(data)
        fields["cardholders"] = [tuple(c) for c in data["cardholders"]]
        return cls(**fields)


def calibration(
    rows: list[SparkovRow], source: str, fraud_rate: float = SPARKOV_TEST_FRAUD_RATE
) -> SimulatorCalibration:
    frauds = [r for r in rows if r.is_fraud]
    genuine = [r for r in rows if not r.is_fraud]
    if not frauds or not genuine:
        raise ValueError("a calibration needs fraud and genuine rows")
    percentiles = tuple(p / 100 for p in AMOUNT_PERCENTILES)

    def shares(part: list[SparkovRow]) -> tuple[dict[str, float], list[float]]:
        by_category = Counter(r.category for r in part)
        by_hour = Counter(r.hour for r in part)
        # Rounded: long digit runs in a committed file look like card numbers to the checks.
        return (
            {c: round(by_category[c] / len(part), 8) for c in CATEGORIES},
            [round(by_hour[h] / len(part), 8) for h in range(24)],
        )

    def amounts(part: list[SparkovRow]) -> dict[str, list[float]]:
        out = {}
        for category in CATEGORIES:
            values = [r.amount for r in part if r.category == category]
            out[category] = [round(v, 4) for v in _quantiles(values, percentiles)] if values else []
        return out

    genuine_categories, genuine_hours = shares(genuine)
    fraud_categories, fraud_hours = shares(frauds)
    fraud_amounts = amounts(frauds)
    per_card: dict[str, list[int]] = {}
    for r in frauds:
        per_card.setdefault(r.card, []).append(r.unix_time)
    holders: dict[str, tuple[float, float, int, str, str]] = {}
    for r in sorted(rows, key=lambda r: r.unix_time):
        place = (round(r.home_lat, 6), round(r.home_lon, 6))
        holders.setdefault(r.card, (*place, r.city_pop, r.birth_date, r.gender))
    return SimulatorCalibration(
        source=source,
        fraud_rate=round(fraud_rate, 8),
        genuine_category_share=genuine_categories,
        fraud_category_share=fraud_categories,
        genuine_hour_share=genuine_hours,
        fraud_hour_share=fraud_hours,
        amount_percentiles=list(percentiles),
        genuine_amounts=amounts(genuine),
        fraud_amounts=fraud_amounts,
        probe_categories=[
            c
            for c in CATEGORIES
            if fraud_amounts[c] and fraud_amounts[c][AMOUNT_PERCENTILES.index(95)] < PROBE_FRAUD_P95
        ],
        fraud_rows_per_card=sorted(len(times) for times in per_card.values()),
        fraud_span_hours=sorted(round((max(t) - min(t)) / 3600, 3) for t in per_card.values()),
        cardholders=sorted(holders.values()),
    )


SAMPLE = "dataset/samples/sparkov_test_sample.csv.gz"
CALIBRATION_FILE = "sparkov_calibration.json"


def calibration_of_sample(repository: Path) -> SimulatorCalibration:
    """The calibration the simulator ships with: the earlier half of the committed sample."""
    early, _ = halves(read_rows(repository / SAMPLE))
    return calibration(early, source=f"{SAMPLE}, earlier half by unix_time ({len(early)} rows)")


def calibration_json(calibration: SimulatorCalibration) -> str:
    return json.dumps(calibration.to_dict(), indent=1, sort_keys=True) + "\n"


def load_calibration() -> SimulatorCalibration:
    """The packaged calibration (fraudit/data/sparkov_calibration.json)."""
    text = resources.files("fraudit.data").joinpath(CALIBRATION_FILE).read_text("utf-8")
    return SimulatorCalibration.from_dict(json.loads(text))
