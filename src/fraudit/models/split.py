"""Temporal split: train on earlier Time, validate and test on later, like production."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraudit.data.creditcard import Dataset


@dataclass(frozen=True)
class TemporalSplit:
    train: Dataset
    validation: Dataset
    test: Dataset
    cut_validation: float
    cut_test: float

    def describe(self) -> dict[str, object]:
        return {
            name: {
                "rows": part.n_rows,
                "frauds": part.n_frauds,
                "time_from": float(part.time.min()),
                "time_to": float(part.time.max()),
            }
            for name, part in (
                ("train", self.train),
                ("validation", self.validation),
                ("test", self.test),
            )
        } | {"cut_validation": self.cut_validation, "cut_test": self.cut_test}


def temporal_split(
    data: Dataset, validation_from: float = 0.6, test_from: float = 0.8
) -> TemporalSplit:
    """Cut at Time quantiles; rows sharing one Time value never straddle a cut."""
    if not 0 < validation_from < test_from < 1:
        raise ValueError("need 0 < validation_from < test_from < 1")
    cut_val, cut_test = np.quantile(data.time, [validation_from, test_from])
    parts = (
        data.time < cut_val,
        (data.time >= cut_val) & (data.time < cut_test),
        data.time >= cut_test,
    )
    train, validation, test = (data.take(mask) for mask in parts)
    split = TemporalSplit(train, validation, test, float(cut_val), float(cut_test))
    for name, part in (
        ("train", split.train),
        ("validation", split.validation),
        ("test", split.test),
    ):
        if part.n_frauds < 5 or part.n_frauds == part.n_rows:
            raise ValueError(
                f"{name} slice has {part.n_frauds} frauds in {part.n_rows} rows: "
                "too few to train or evaluate on"
            )
    return split
