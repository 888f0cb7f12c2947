"""XGBoost fraud classifier: our recipe and the reference (SageMaker sample) recipe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from fraudit.data.creditcard import Dataset
from fraudit.models.metrics import average_precision
from fraudit.ulb_vector import TIME_INDEX, ULB_COLUMNS

# Raw Time (seconds since the file began) only tells the model *when* the training slice was
# recorded; under a temporal split it is pure drift. A zero feature weight keeps it out of
# every tree while the model still takes the 30-column row SageMaker sends.
FEATURE_WEIGHTS = np.array([0.0 if i == TIME_INDEX else 1.0 for i in range(len(ULB_COLUMNS))])

BASE_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "aucpr",
    "tree_method": "hist",
    "eta": 0.05,
    "subsample": 0.8,
    "colsample_bynode": 0.8,
    "nthread": 2,
}
# Small grid, chosen on validation AUPRC only: the test slice never sees a choice.
SEARCH_GRID: tuple[dict[str, Any], ...] = tuple(
    {"max_depth": depth, "min_child_weight": weight} for depth in (3, 4, 6) for weight in (1, 5)
)
MAX_ROUNDS = 2_000
EARLY_STOPPING_ROUNDS = 100

REFERENCE_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "max_depth": 5,
    "eta": 0.2,
    "gamma": 4,
    "min_child_weight": 6,
    "subsample": 0.8,
    "nthread": 2,
}
REFERENCE_ROUNDS = 100


@dataclass(frozen=True)
class TrainedClassifier:
    booster: xgb.Booster
    params: dict[str, Any]
    best_iteration: int
    validation_auprc: float

    def predict(self, X: np.ndarray) -> np.ndarray:
        return predict(self.booster, X)


def predict(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    return booster.inplace_predict(np.ascontiguousarray(X, dtype=np.float64))


def class_weight(y: np.ndarray) -> float:
    """scale_pos_weight = sqrt(n_neg / n_pos): the reference's damped balancing."""
    n_pos = max(int(y.sum()), 1)
    return float(np.sqrt((len(y) - n_pos) / n_pos))


def _trim(booster: xgb.Booster, best_iteration: int) -> xgb.Booster:
    # Keep only the trees early stopping chose, so every consumer (SageMaker's container
    # included) predicts with exactly the validated model.
    return booster[: best_iteration + 1]


def fit_early_stopped(
    params: dict[str, Any], dtrain: xgb.DMatrix, dval: xgb.DMatrix, rounds: int, patience: int
) -> tuple[xgb.Booster, int]:
    """Boost up to `rounds` trees, stop after `patience` without a better validation score;
    the booster trimmed to the best iteration, and that iteration."""
    booster = xgb.train(
        params,
        dtrain,
        rounds,
        evals=[(dval, "validation")],
        early_stopping_rounds=patience,
        verbose_eval=False,
    )
    best = int(booster.best_iteration)
    return _trim(booster, best), best


def train_candidate(
    train: Dataset, validation: Dataset, params: dict[str, Any], seed: int, w_neg_validation: float
) -> TrainedClassifier:
    full = {**BASE_PARAMS, **params, "seed": seed, "scale_pos_weight": class_weight(train.y)}
    dtrain = xgb.DMatrix(train.X, label=train.y, feature_names=list(ULB_COLUMNS))
    dtrain.set_info(feature_weights=FEATURE_WEIGHTS)
    dval = xgb.DMatrix(validation.X, label=validation.y, feature_names=list(ULB_COLUMNS))
    booster, best = fit_early_stopped(full, dtrain, dval, MAX_ROUNDS, EARLY_STOPPING_ROUNDS)
    auprc = average_precision(validation.y, predict(booster, validation.X), w_neg_validation)
    return TrainedClassifier(booster, full, best, auprc)


def train_classifier(
    train: Dataset,
    validation: Dataset,
    *,
    seed: int,
    w_neg_validation: float,
    progress: Callable[[str], None] = print,
    grid: tuple[dict[str, Any], ...] = SEARCH_GRID,
) -> TrainedClassifier:
    """Grid search on validation AUPRC (negatives reweighted to production), early stopping."""
    best: TrainedClassifier | None = None
    for i, params in enumerate(grid, start=1):
        candidate = train_candidate(train, validation, params, seed, w_neg_validation)
        progress(
            f"  classifier {i}/{len(grid)} {params}: {candidate.best_iteration + 1} trees, "
            f"validation AUPRC {candidate.validation_auprc:.4f}"
        )
        if best is None or candidate.validation_auprc > best.validation_auprc:
            best = candidate
    assert best is not None
    return best


def train_reference(train: Dataset, seed: int) -> xgb.Booster:
    """The SageMaker sample recipe, as published: 100 rounds, no early stopping."""
    params = {**REFERENCE_PARAMS, "seed": seed, "scale_pos_weight": class_weight(train.y)}
    dtrain = xgb.DMatrix(train.X, label=train.y, feature_names=list(ULB_COLUMNS))
    return xgb.train(params, dtrain, REFERENCE_ROUNDS)


@dataclass(frozen=True)
class Recipe:
    """What level (a) of the protocol chose, as a rule any later fit follows without looking
    at its own evaluation rows: the grid's parameters, and the number of trees early stopping
    found for `rows` training rows, scaled in proportion to the rows of each refit."""

    params: dict[str, Any]
    trees: int
    rows: int

    def trees_for(self, n_rows: int) -> int:
        return max(1, round(self.trees * n_rows / self.rows))

    def to_dict(self) -> dict[str, Any]:
        return {"params": dict(self.params), "trees": self.trees, "rows": self.rows}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Recipe:
        return cls(dict(document["params"]), int(document["trees"]), int(document["rows"]))

    @classmethod
    def chosen(cls, model: TrainedClassifier, train_rows: int) -> Recipe:
        params = {k: model.params[k] for k in ("max_depth", "min_child_weight")}
        return cls(params, model.best_iteration + 1, train_rows)


def train_recipe(data: Dataset, recipe: Recipe, seed: int) -> xgb.Booster:
    """Our recipe on every row of `data`: no early stopping, trees by the recipe's rule."""
    full = {**BASE_PARAMS, **recipe.params, "seed": seed, "scale_pos_weight": class_weight(data.y)}
    dtrain = xgb.DMatrix(data.X, label=data.y, feature_names=list(ULB_COLUMNS))
    dtrain.set_info(feature_weights=FEATURE_WEIGHTS)
    return xgb.train(full, dtrain, recipe.trees_for(data.n_rows))
