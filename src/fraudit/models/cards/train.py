"""The card classifier: XGBoost on the card table, fitted with labels as known when it is
trained (the label-delay split), early stopping on a later validation period."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from fraudit.features.definitions import DAY
from fraudit.models.cards.table import CardTable
from fraudit.models.classifier import BASE_PARAMS, class_weight, predict
from fraudit.models.metrics import average_precision
from fraudit.models.split import label_delay_split

CARD_PARAMS: dict[str, Any] = {"max_depth": 6, "min_child_weight": 5}
MAX_ROUNDS = 1_000
EARLY_STOPPING_ROUNDS = 50
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
    known = CardTable(
        X=table.X,
        names=table.names,
        y=split.train_labels,
        event_time=table.event_time,
        chargeback_time=table.chargeback_time,
        card=table.card,
        scenario=table.scenario,
        gender=table.gender,
    ).take(split.train)
    cut = np.quantile(known.event_time, 1 - VALIDATION_SHARE)
    train, validation = known.take(known.event_time < cut), known.take(known.event_time >= cut)
    for name, part in (("train", train), ("validation", validation)):
        if part.y.sum() < 5:
            raise ValueError(f"the {name} period has {int(part.y.sum())} known frauds: too few")
    return CardSplit(train, validation, table.take(split.test), split.unknown_train_frauds)


@dataclass(frozen=True)
class CardClassifier:
    booster: xgb.Booster
    names: tuple[str, ...]
    trees: int
    validation_auprc: float

    def predict(self, table: CardTable) -> np.ndarray:
        if table.names != self.names:
            raise ValueError("the table's features are not the model's")
        return predict(self.booster, table.X)


def fit_card_classifier(
    train: CardTable, validation: CardTable, *, seed: int, params: dict[str, Any] = CARD_PARAMS
) -> CardClassifier:
    full = {**BASE_PARAMS, **params, "seed": seed, "scale_pos_weight": class_weight(train.y)}
    names = list(train.names)
    dtrain = xgb.DMatrix(train.X, label=train.y, feature_names=names, missing=np.nan)
    dval = xgb.DMatrix(validation.X, label=validation.y, feature_names=names, missing=np.nan)
    booster = xgb.train(
        full,
        dtrain,
        MAX_ROUNDS,
        evals=[(dval, "validation")],
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        verbose_eval=False,
    )
    trees = int(booster.best_iteration) + 1
    booster = booster[:trees]
    auprc = average_precision(validation.y, predict(booster, validation.X))
    return CardClassifier(booster, train.names, trees, auprc)
