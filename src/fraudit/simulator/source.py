"""What the simulator replays: a card-transaction dataset (dataset/creditcard.csv when
present, else the real dev sample, else the calibrated synthetic stand-in), each row turned
into the JSON body of a POST /predict with deterministic metadata."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from fraudit.data.creditcard import Dataset, load_creditcard
from fraudit.data.metadata import DEFAULT_START, MetadataGenerator
from fraudit.features import to_csv_row

DEV_SAMPLE = Path("../shared/data/ulb/creditcard_dev.csv")
SYNTHETIC_ROWS = 50_000
Timestamps = Literal["now", "dataset"]


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

    @property
    def identity(self) -> str:
        """What a resume state belongs to: the same rows with the same metadata."""
        return f"{self.dataset.source}|rows={self.n_rows}|seed={self.metadata.seed}"

    def payload(self, index: int, now: datetime | None = None) -> bytes:
        """The request body for request `index`; `now` stamps it (timestamps="now")."""
        row_index = index % self.dataset.n_rows
        row = self.dataset.X[row_index]
        when = (now or datetime.now(UTC)) if self.timestamps == "now" else (
            DEFAULT_START + timedelta(seconds=float(row[0])))
        meta = self.metadata.for_row(index, bool(self.dataset.y[row_index]), timestamp=when)
        return json.dumps({"metadata": meta, "data": to_csv_row(row)},
                          separators=(",", ":")).encode()


def resolve_dataset(path: Path | None, default_path: Path, *, seed: int = 42,
                    say: Callable[[str], None] = lambda _: None) -> Dataset:
    """`path` if given (it must exist); else the first of default_path, the dev sample;
    else synthetic rows."""
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(f"no dataset at {path}")
        return load_creditcard(path)
    for candidate in (default_path, DEV_SAMPLE):
        if candidate.is_file():
            say(f"replaying {candidate}")
            return load_creditcard(candidate)
    from fraudit.data.synthetic import SyntheticCreditCard

    say(f"no dataset found ({default_path}, {DEV_SAMPLE}): replaying {SYNTHETIC_ROWS:,} "
        "calibrated synthetic rows")
    return SyntheticCreditCard().generate(SYNTHETIC_ROWS, seed=seed)
