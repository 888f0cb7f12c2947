"""The card family's split: train and validation with labels as known when the test period
starts, a gap for the chargeback delay, then the test period."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fraudit.errors import DatasetError
from fraudit.features.definitions import DAY
from fraudit.models.cards.table import CardTable
from fraudit.models.split import label_delay_split

# Chargebacks arrive 1 to 90 days after the fraud, most within five weeks (docs/SIMULATOR.md).
LABEL_GAP_DAYS = 35
TEST_DAYS = 60
VALIDATION_SHARE = 0.2
# Before the test period and its gap, the out-of-time folds need the rows of their first
# half, a label gap of their own, and a fortnight to train on.
MIN_TRAINING_DAYS = 2 * LABEL_GAP_DAYS + 15
MIN_HISTORY_DAYS = TEST_DAYS + LABEL_GAP_DAYS + MIN_TRAINING_DAYS


def check_history_span(table: CardTable) -> None:
    """Refuse, saying how much is needed, a history too short for the training protocol."""
    span = (float(table.event_time.max()) - float(table.event_time.min())) / DAY
    if span < MIN_HISTORY_DAYS:
        raise DatasetError(
            f"the history spans {span:.1f} days; training the card family needs at least "
            f"{MIN_HISTORY_DAYS}: a {TEST_DAYS}-day test period, the {LABEL_GAP_DAYS}-day "
            f"label gap before it, and {MIN_TRAINING_DAYS} days before that for the "
            "out-of-time folds that fit the policy (`fraudit generate-cards --days 365` "
            "makes a year)"
        )


@dataclass(frozen=True)
class CardSplit:
    """Train and validation with labels as known at the test's start, then the test."""

    train: CardTable
    validation: CardTable
    test: CardTable
    unknown_train_frauds: int
    test_start: float


def split_cards(
    table: CardTable, *, test_days: int = TEST_DAYS, gap_days: int = LABEL_GAP_DAYS
) -> CardSplit:
    end = float(table.event_time.max()) + 1
    test_start = end - test_days * DAY
    known, unknown = as_of(table, test_start, gap_days=gap_days)
    cut = np.quantile(known.event_time, 1 - VALIDATION_SHARE)
    train, validation = known.take(known.event_time < cut), known.take(known.event_time >= cut)
    for name, part in (("train", train), ("validation", validation)):
        if part.y.sum() < 5:
            raise DatasetError(f"the {name} period has {int(part.y.sum())} known frauds: too few")
    test = table.take((table.event_time >= test_start) & (table.event_time < end))
    return CardSplit(train, validation, test, unknown, test_start)


def as_of(table: CardTable, at: float, *, gap_days: int = LABEL_GAP_DAYS) -> tuple[CardTable, int]:
    """The rows a model fitted at time `at` may train on (dated before `at` minus the gap),
    with the labels known at `at`; and how many of their frauds were not known yet."""
    split = label_delay_split(
        table.event_time,
        table.y,
        table.chargeback_time,
        test_start=at,
        test_end=at + 1,
        gap_seconds=gap_days * DAY,
    )
    return replace(table, y=split.train_labels).take(split.train), split.unknown_train_frauds


@dataclass(frozen=True)
class CardFold:
    number: int
    train: CardTable  # labels as known at the test period's start
    test: CardTable  # labels as the caller knows them


def card_folds(
    rows: CardTable, n_folds: int, *, gap_days: int = LABEL_GAP_DAYS, first_test_from: float = 0.5
) -> list[CardFold]:
    """Rolling-origin folds over `rows` (labels as the caller knows them): the rows from the
    `first_test_from` quantile of event time on, cut into `n_folds` periods of equal row
    count; fold k trains as of period k's start (gap and labels as in `as_of`)."""
    if n_folds < 1:
        raise ValueError("need at least 1 fold")
    edges = np.quantile(rows.event_time, np.linspace(first_test_from, 1.0, n_folds + 1))
    folds = []
    for k in range(n_folds):
        start, end = float(edges[k]), float(edges[k + 1])
        last = k == n_folds - 1
        during = (rows.event_time >= start) & (
            (rows.event_time <= end) if last else (rows.event_time < end)
        )
        train, _ = as_of(rows, start, gap_days=gap_days)
        test = rows.take(during)
        for name, part in (("train", train), ("test", test)):
            if part.y.sum() < 5:
                raise DatasetError(
                    f"fold {k + 1} {name} has {int(part.y.sum())} known frauds: too few for "
                    f"{n_folds} folds of {rows.n_rows:,} rows; "
                    + ("use fewer folds or more history" if n_folds > 1 else "use more history")
                    + f" (fold {k + 1} trains on rows {gap_days} days or more before its test "
                    "period, with the frauds charged back by then)"
                )
        folds.append(CardFold(k + 1, train, test))
    return folds
