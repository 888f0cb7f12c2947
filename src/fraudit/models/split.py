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


@dataclass(frozen=True)
class ForwardFold:
    """Train on every row before `test`'s period, test on that period."""

    number: int
    train: Dataset
    test: Dataset


def forward_folds(data: Dataset, n_folds: int, first_test_from: float = 0.5) -> list[ForwardFold]:
    """Rolling-origin folds: the rows from the `first_test_from` Time quantile on, cut into
    `n_folds` consecutive periods of equal row count; fold k trains on everything before
    period k. Rows sharing one Time value never straddle a cut."""
    if n_folds < 2:
        raise ValueError("need at least 2 folds")
    if not 0 < first_test_from < 1:
        raise ValueError("need 0 < first_test_from < 1")
    edges = np.quantile(data.time, np.linspace(first_test_from, 1.0, n_folds + 1))
    folds = []
    for k in range(n_folds):
        start, end = edges[k], edges[k + 1]
        last = k == n_folds - 1
        during = (data.time >= start) & ((data.time <= end) if last else (data.time < end))
        train, test = data.take(data.time < start), data.take(during)
        for name, part in (("train", train), ("test", test)):
            if part.n_frauds < 5 or part.n_frauds == part.n_rows:
                raise ValueError(
                    f"fold {k + 1} {name} has {part.n_frauds} frauds in {part.n_rows} rows: "
                    f"too few for {n_folds} folds; use fewer"
                )
        folds.append(ForwardFold(k + 1, train, test))
    return folds


@dataclass(frozen=True)
class LabelDelaySplit:
    """Rows for training and for testing, and the labels training may use: those known at
    the test period's start. A fraud is known from its chargeback on."""

    train: np.ndarray  # boolean masks over the rows
    test: np.ndarray
    train_labels: np.ndarray  # 1 where a chargeback had arrived by the test's start
    test_start: float
    gap_seconds: float
    unknown_train_frauds: int  # frauds in the training rows whose chargeback came later


def label_delay_split(
    event_time: np.ndarray,
    is_fraud: np.ndarray,
    chargeback_time: np.ndarray,
    *,
    test_start: float,
    test_end: float,
    gap_seconds: float,
) -> LabelDelaySplit:
    """Train on rows dated before `test_start - gap_seconds`, test on [test_start,
    test_end). The gap stands for the chargeback delay: with a gap at least as long as
    most delays, nearly every training fraud is known by the test's start; those that are
    not are trained on as genuine, as production would have seen them. `chargeback_time`
    is NaN for genuine rows."""
    if gap_seconds < 0 or not test_start < test_end:
        raise ValueError("need gap_seconds >= 0 and test_start < test_end")
    event_time = np.asarray(event_time, dtype=np.float64)
    is_fraud = np.asarray(is_fraud).astype(bool)
    chargeback = np.asarray(chargeback_time, dtype=np.float64)
    if np.any(is_fraud & ~(chargeback >= event_time)):
        raise ValueError("every fraud needs a chargeback time at or after its event time")
    train = event_time < test_start - gap_seconds
    test = (event_time >= test_start) & (event_time < test_end)
    known = is_fraud & (chargeback <= test_start)
    return LabelDelaySplit(
        train=train,
        test=test,
        train_labels=(known & train).astype(np.int8),
        test_start=float(test_start),
        gap_seconds=float(gap_seconds),
        unknown_train_frauds=int((train & is_fraud & ~known).sum()),
    )
