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
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
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
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"line {line}: not a Sparkov row ({exc})") from None


def halves(rows: Iterable[SparkovRow]) -> tuple[list[SparkovRow], list[SparkovRow]]:
    """Earlier and later halves by unix_time (rows at the median time go to the later)."""
    ordered = sorted(rows, key=lambda r: r.unix_time)
    cut = ordered[len(ordered) // 2].unix_time
    return [r for r in ordered if r.unix_time < cut], [r for r in ordered if r.unix_time >= cut]


def _quantiles(values: list[float]) -> list[float]:
    """Linear-interpolation quantiles (numpy's default), pure Python."""
    ordered = sorted(values)
    out = []
    for q in QUANTILES:
        position = q * (len(ordered) - 1)
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        out.append(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
    return out


def profile(rows: list[SparkovRow], fraud_rate: float = SPARKOV_TEST_FRAUD_RATE) -> SparkovProfile:
    frauds = [r for r in rows if r.is_fraud]
    genuine = [r for r in rows if not r.is_fraud]
    if not frauds or not genuine:
        raise ValueError("a profile needs fraud and genuine rows")
    # Each genuine row weighs w so that frauds / (frauds + w * genuine) = fraud_rate.
    w = len(frauds) * (1 - fraud_rate) / (fraud_rate * len(genuine))
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
