"""The card classifier: XGBoost on the card table, fitted with labels as known when it is
trained (`fraudit.models.cards.split`), early stopping on a later validation period."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from fraudit.models.cards.table import CardTable
from fraudit.models.classifier import (
    BASE_PARAMS,
    Recipe,
    class_weight,
    fit_early_stopped,
    predict,
)
from fraudit.models.metrics import average_precision

# eta 0.1 rather than the ULB family's 0.05: about half the trees for the same validation
# AUPRC (docs/MODELS.md), which keeps seven fits on 1M transactions within five minutes.
CARD_PARAMS: dict[str, Any] = {"max_depth": 6, "min_child_weight": 5, "eta": 0.1}
MAX_ROUNDS = 1_000
EARLY_STOPPING_ROUNDS = 50


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
    booster, best = fit_early_stopped(full, dtrain, dval, MAX_ROUNDS, EARLY_STOPPING_ROUNDS)
    trees = best + 1
    auprc = average_precision(validation.y, predict(booster, validation.X))
    return CardClassifier(booster, train.names, trees, auprc)


def train_card_recipe(table: CardTable, recipe: Recipe, seed: int) -> xgb.Booster:
    """The chosen recipe on every row of `table`: no early stopping, trees by the recipe's
    rule (scaled with the rows, as for the ULB family)."""
    full = {**BASE_PARAMS, **recipe.params, "seed": seed, "scale_pos_weight": class_weight(table.y)}
    dtrain = xgb.DMatrix(table.X, label=table.y, feature_names=list(table.names), missing=np.nan)
    return xgb.train(full, dtrain, recipe.trees_for(table.n_rows))
