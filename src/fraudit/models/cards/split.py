"""The card family's split: train and validation with labels as known when the test period
starts, a gap for the chargeback delay, then the test period."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fraudit.features.definitions import DAY
from fraudit.models.cards.table import CardTable
from fraudit.models.split import label_delay_split

# Chargebacks arrive 1 to 90 days after the fraud, most within five weeks (docs/SIMULATOR.md).
LABEL_GAP_DAYS = 35
TEST_DAYS = 60
VALIDATION_SHARE = 0.2


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
    split = label_delay_split(
        table.event_time,
        table.y,
        table.chargeback_time,
        test_start=test_start,
        test_end=end,
        gap_seconds=gap_days * DAY,
    )
    known = replace(table, y=split.train_labels).take(split.train)
    cut = np.quantile(known.event_time, 1 - VALIDATION_SHARE)
    train, validation = known.take(known.event_time < cut), known.take(known.event_time >= cut)
    for name, part in (("train", train), ("validation", validation)):
        if part.y.sum() < 5:
            raise ValueError(f"the {name} period has {int(part.y.sum())} known frauds: too few")
    return CardSplit(
        train, validation, table.take(split.test), split.unknown_train_frauds, test_start
    )
