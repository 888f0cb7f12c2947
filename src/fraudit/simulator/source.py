"""What the simulator replays: a card-transaction dataset (found as
fraudit.data.datasets.resolve_dataset says), each row turned into the JSON body of a
POST /predict with deterministic metadata."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from fraudit.data.creditcard import Dataset
from fraudit.data.metadata import DEFAULT_START, MetadataGenerator
from fraudit.ulb_vector import to_csv_row

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fraudit.simulator.population import LivePopulation

# Replay needs fewer synthetic rows than training: they are sent, not learned from.
SYNTHETIC_ROWS = 50_000
Timestamps = Literal["now", "dataset"]


class Source(Protocol):
    """What the simulator replays: request bodies by index."""

    @property
    def n_rows(self) -> int: ...

    @property
    def identity(self) -> str: ...

    def payload(self, index: int, now: datetime | None = None) -> bytes: ...

    def lapped(self, laps: int) -> Source: ...

    def due(self, index: int) -> float | None:
        """Unix seconds before which request `index` is not sent (None: whenever the pace
        allows)."""
        ...


@dataclass(frozen=True)
class Traffic:
    """What `fraudit simulate` sends: a source and, for live traffic, its first live row
    (each transaction then goes at its own simulated time; --resume does not apply). None:
    a replay, from --start or where --resume left off."""

    source: Source
    live_from: int | None = None


@dataclass(frozen=True)
class ReplaySource:
    dataset: Dataset
    metadata: MetadataGenerator
    timestamps: Timestamps = "now"
    # Long runs (the soak) replay the rows again; each lap's requests are new transactions
    # (the metadata, transaction_id included, follows the request index, not the row).
    laps: int = 1

    @property
    def n_rows(self) -> int:
        return self.dataset.n_rows * self.laps

    def due(self, index: int) -> float | None:
        return None

    def lapped(self, laps: int) -> ReplaySource:
        """Stamped at send time and replayed `laps` times (the soak)."""
        return ReplaySource(self.dataset, self.metadata, "now", laps=laps)

    @property
    def identity(self) -> str:
        """What a resume state belongs to: the same rows with the same metadata."""
        return f"{self.dataset.source}|rows={self.n_rows}|seed={self.metadata.seed}"

    def payload(self, index: int, now: datetime | None = None) -> bytes:
        """The request body for request `index`; `now` stamps it (timestamps="now")."""
        row_index = index % self.dataset.n_rows
        row = self.dataset.X[row_index]
        when = (
            (now or datetime.now(UTC))
            if self.timestamps == "now"
            else (DEFAULT_START + timedelta(seconds=float(row[0])))
        )
        meta = self.metadata.for_row(index, bool(self.dataset.y[row_index]), timestamp=when)
        return json.dumps(
            {"metadata": meta, "data": to_csv_row(row)}, separators=(",", ":")
        ).encode()


@dataclass(frozen=True)
class CardReplaySource:
    """Replays a card-transaction history (a `fraudit generate-cards` file, or any history
    file with the columns of docs/FEATURES.md) in arrival order as card transactions
    (schema version 2). With timestamps="now" each is stamped when sent, so each card's
    sequence is kept but its time is compressed to the replay's pace: the features then see
    denser histories than a real card has (a demonstration of the pipeline, not of the
    model); with "dataset", the history's own event times are sent (raise
    FRAUDIT_MAX_EVENT_AGE_DAYS to cover them)."""

    rows: list[dict[str, object]]
    label: str
    seed: int = 42
    timestamps: Timestamps = "now"
    laps: int = 1

    @property
    def n_rows(self) -> int:
        return len(self.rows) * self.laps

    def due(self, index: int) -> float | None:
        return None

    def lapped(self, laps: int) -> CardReplaySource:
        """Stamped at send time and replayed `laps` times (the soak)."""
        return CardReplaySource(self.rows, self.label, self.seed, "now", laps)

    @property
    def identity(self) -> str:
        return f"cards:{self.label}|rows={self.n_rows}|seed={self.seed}"

    def transaction_id(self, index: int) -> str:
        # Stable per (seed, request): a resumed or retried replay reuses it.
        return f"card-{self.seed}-{index}"

    def payload(self, index: int, now: datetime | None = None) -> bytes:
        row = self.rows[index % len(self.rows)]
        when = (
            (now or datetime.now(UTC))
            if self.timestamps == "now"
            else datetime.fromtimestamp(float(str(row["event_time"])), UTC)
        )
        return card_request_body(row, self.transaction_id(index), when)

    def chargebacks(self, indices: Iterable[int]) -> list[dict[str, object]]:
        """The chargebacks of the requests `indices` as label rows (docs/LABELS.md): each
        fraud the history gives a chargeback time, reported then. Only for a replay of the
        history's own times: stamped with the send time, a transaction has no report date."""
        if self.timestamps != "dataset":
            raise ValueError("chargeback labels need --timestamps dataset")
        labels = []
        for index in indices:
            row = self.rows[index % len(self.rows)]
            reported = row.get("chargeback_time")
            if reported is None or not row.get("is_fraud"):
                continue
            labels.append(
                {
                    "event_id": self.transaction_id(index),
                    "label": "fraud",
                    "source": "chargeback",
                    "reported_at": _rfc3339(float(str(reported))),
                    "occurred_at": _rfc3339(float(str(row["event_time"]))),
                    "reason_code": f"simulated:{row.get('scenario') or 'fraud'}",
                    "amount": float(str(row["amount"])),
                }
            )
        return labels


# Every simulated merchant is in the United States (the Sparkov world): the simulator's
# client says so, as a real client knows its merchant's country. fraudit does not guess a
# country from coordinates.
SIMULATED_COUNTRY = "US"


def _rfc3339(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat().replace("+00:00", "Z")


def write_label_file(path: Path, labels: list[dict[str, object]]) -> None:
    """Label rows as a CSV `fraudit labels import` reads."""
    import csv

    from fraudit.labels.contract import LABEL_FIELDS

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(LABEL_FIELDS))
        writer.writeheader()
        writer.writerows(labels)


def card_request_body(row: Mapping[str, object], transaction_id: str, when: datetime) -> bytes:
    """The POST /predict body (schema version 2) of a history row, stamped `when`."""
    metadata: dict[str, object] = {
        "transaction_id": transaction_id,
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        "user_id": f"holder-{row['card']}",
        "source": "simulator",
        "geo": {"country": SIMULATED_COUNTRY},
    }
    if row.get("device"):
        metadata["device_info"] = {"device_id": row["device"]}
    if row.get("ip"):
        metadata["ip_address"] = row["ip"]
    transaction = {
        "card_token": row["card"],
        "amount": float(str(row["amount"])),
        "merchant_id": row["merchant"],
        "merchant_category": row["category"],
        "merchant_lat": float(str(row["merchant_lat"])),
        "merchant_lon": float(str(row["merchant_lon"])),
        "home_lat": float(str(row["home_lat"])),
        "home_lon": float(str(row["home_lon"])),
        "city_pop": int(str(row["city_pop"])),
        "date_of_birth": str(row["birth_date"])[:10],
    }
    return json.dumps(
        {"metadata": metadata, "transaction": transaction}, separators=(",", ":")
    ).encode()


@dataclass(frozen=True)
class LiveCardSource:
    """A population's live traffic (`fraudit.simulator.population`): request k is the k-th
    transaction of the population's rows, those before `first_live` being its history
    (seeded into the store, never sent). Each is stamped with its own simulated time and
    sent no earlier: every card transacts at its own rate, whatever the pace. A population
    whose live start is in the past (a catch-up) sends that stretch as fast as the pace
    allows, each still at its own time."""

    population: LivePopulation

    @property
    def n_rows(self) -> int:
        return len(self.population.rows)

    def lapped(self, laps: int) -> LiveCardSource:
        raise ValueError("live traffic is not replayed: simulate a larger population")

    @property
    def identity(self) -> str:
        return self.population.identity

    def row(self, index: int) -> dict[str, object]:
        frame = self.population.rows
        return {name: frame[name].iat[index] for name in frame.columns}

    def due(self, index: int) -> float:
        return float(self.population.rows.event_time.iat[index])

    def payload(self, index: int, now: datetime | None = None) -> bytes:
        row = self.row(index)
        when = datetime.fromtimestamp(float(str(row["event_time"])), UTC)
        return card_request_body(row, self.population.transaction_id(index), when)


def load_card_history(path: Path, last: int | None = None) -> list[dict[str, object]]:
    """A history file's rows in arrival order (the last `last` of them): Parquet or CSV."""
    import pandas as pd

    suffixes = "".join(path.suffixes)
    frame = (
        pd.read_parquet(path)
        if path.suffix == ".parquet" or path.is_dir()
        else pd.read_csv(path, compression="gzip" if suffixes.endswith(".gz") else None)
    )
    missing = {"card", "event_time", "amount", "merchant", "category"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: not a card history (missing {', '.join(sorted(missing))})")
    order = "arrival" if "arrival" in frame.columns else "event_time"
    frame = frame.sort_values(order, kind="stable")
    if last is not None:
        frame = frame.tail(last)
    frame = frame.astype(object).where(frame.notna(), None)
    return list(frame.to_dict("records"))
