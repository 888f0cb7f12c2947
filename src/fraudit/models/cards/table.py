"""The card family's training table: the backfilled features of every transaction joined
with its labels, in arrival order. Features are named as in
`fraudit.features.definitions`; gender travels beside them for the fairness report and is
never among them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from fraudit.errors import DatasetError
from fraudit.features.definitions import (
    FEATURE_NAMES,
    FEATURES,
    CardSequence,
    Entity,
    RowFeature,
    WindowAggregate,
)

LABEL_COLUMNS = ("transaction_id", "card", "event_time", "arrival", "is_fraud", "scenario",
                 "chargeback_time", "gender")  # fmt: skip


def family_of(name: str) -> str:
    """The feature's family, for the ablation and the contribution plot."""
    feature = FEATURES[FEATURE_NAMES.index(name)]
    if isinstance(feature, RowFeature):
        return "row"
    if isinstance(feature, CardSequence):
        return "card sequence"
    if isinstance(feature, WindowAggregate) and feature.entity is Entity.CARD:
        return "card windows"
    if isinstance(feature, WindowAggregate) and feature.entity is Entity.MERCHANT:
        return "merchant windows"
    return "device and IP"


ROW_ONLY = tuple(n for n in FEATURE_NAMES if family_of(n) == "row")


@dataclass(frozen=True)
class CardTable:
    X: np.ndarray  # float64, rows x names; NaN where a feature is missing
    names: tuple[str, ...]
    y: np.ndarray  # int8
    event_time: np.ndarray  # float64 Unix seconds
    chargeback_time: np.ndarray  # float64, NaN for genuine rows
    card: np.ndarray
    scenario: np.ndarray
    gender: np.ndarray

    def __post_init__(self) -> None:
        if self.X.shape != (len(self.y), len(self.names)):
            raise DatasetError(f"features {self.X.shape} for {len(self.y)} rows of {self.names}")
        if "gender" in self.names:
            raise DatasetError("gender is never a model input")

    @property
    def n_rows(self) -> int:
        return len(self.y)

    def take(self, mask: np.ndarray) -> CardTable:
        return CardTable(
            **{f.name: getattr(self, f.name)[mask] for f in fields(self) if f.name != "names"},
            names=self.names,
        )

    def columns(self, names: tuple[str, ...]) -> CardTable:
        """The same rows with only `names` as features (e.g. `ROW_ONLY`)."""
        index = [self.names.index(n) for n in names]
        return CardTable(
            **{f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("X", "names")},
            X=self.X[:, index],
            names=names,
        )


def card_table(labels: pd.DataFrame, features: pd.DataFrame) -> CardTable:
    """Join labels (a simulated history's LABEL_COLUMNS) and features on transaction_id."""
    missing = [c for c in LABEL_COLUMNS if c not in labels.columns]
    missing += [c for c in ("transaction_id", *FEATURE_NAMES) if c not in features.columns]
    if missing:
        raise DatasetError(f"missing columns: {', '.join(missing)}")
    joined = labels[list(LABEL_COLUMNS)].merge(
        features[["transaction_id", *FEATURE_NAMES]], on="transaction_id", how="left",
        indicator=True,
    )  # fmt: skip
    unmatched = int((joined["_merge"] != "both").sum())
    if unmatched or len(joined) != len(labels):
        raise DatasetError(f"{unmatched} transactions have no features: backfill this history")
    joined = joined.sort_values("arrival", kind="stable")
    y = joined["is_fraud"].astype(np.int8).to_numpy()
    event_time = joined["event_time"].to_numpy(dtype=np.float64)
    chargeback = joined["chargeback_time"].astype("float64").to_numpy()
    # A fraud the file gives no report date for (`fraudit import sparkov`, a team's own
    # labels) is taken as known from its event time: its label is trusted as imported.
    chargeback = np.where((y == 1) & np.isnan(chargeback), event_time, chargeback)
    return CardTable(
        X=joined[list(FEATURE_NAMES)].to_numpy(dtype=np.float64, na_value=np.nan),
        names=FEATURE_NAMES,
        y=y,
        event_time=event_time,
        chargeback_time=chargeback,
        card=joined["card"].to_numpy(dtype=object),
        scenario=joined["scenario"].to_numpy(dtype=object),
        gender=joined["gender"].to_numpy(dtype=object),
    )


def load_card_table(history: Path, features: Path) -> CardTable:
    """A history file (`fraudit generate-cards`) and its backfill (`fraudit features
    backfill`): Parquet or CSV for the history, the Parquet folder for the features."""
    if history.suffix == ".parquet":
        labels = pd.read_parquet(history, columns=list(LABEL_COLUMNS))
    else:
        labels = pd.read_csv(history, usecols=list(LABEL_COLUMNS))
    return card_table(labels, pd.read_parquet(features))
