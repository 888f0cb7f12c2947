"""What the simulator replays: a card-transaction dataset (found as
fraudit.data.datasets.resolve_dataset says), each row turned into the JSON body of a
POST /predict with deterministic metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from fraudit.data.creditcard import Dataset
from fraudit.data.metadata import DEFAULT_START, MetadataGenerator
from fraudit.ulb_vector import to_csv_row

# Replay needs fewer synthetic rows than training: they are sent, not learned from.
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
        when = (
            (now or datetime.now(UTC))
            if self.timestamps == "now"
            else (DEFAULT_START + timedelta(seconds=float(row[0])))
        )
        meta = self.metadata.for_row(index, bool(self.dataset.y[row_index]), timestamp=when)
        return json.dumps(
            {"metadata": meta, "data": to_csv_row(row)}, separators=(",", ":")
        ).encode()
