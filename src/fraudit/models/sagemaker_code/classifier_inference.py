"""The classifier's scores and explanations: the one implementation the in-process scorer
and the local model server use (and the XGBoost framework container's entry point, where
an explanation is asked for with `Accept: application/vnd.fraudit.explain+json`).

An explanation is XGBoost's own TreeSHAP (`pred_contribs`): one contribution per feature, in
log-odds, plus the bias; they add up to the model's margin, whose logistic is the score.
Exact TreeSHAP costs tens of times a prediction, so it is asked for only for the rows whose
answer needs it (docs/RULES.md, "Reasons"). Needs only xgboost and numpy."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xgboost as xgb


def probabilities(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    return np.asarray(booster.inplace_predict(np.ascontiguousarray(X, dtype=np.float64)))


def contributions(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    """(rows, features + 1): each feature's TreeSHAP contribution, the bias last."""
    matrix = xgb.DMatrix(np.ascontiguousarray(X, dtype=np.float64), missing=np.nan)
    return np.asarray(booster.predict(matrix, pred_contribs=True, validate_features=False))


def explanations(booster: xgb.Booster, X: np.ndarray) -> list[dict[str, Any]]:
    """Per row: its score (the same as `probabilities`), its contributions and bias."""
    scores = probabilities(booster, X)
    parts = contributions(booster, X)
    return [
        {"score": float(s), "bias": float(c[-1]), "contributions": c[:-1].tolist()}
        for s, c in zip(scores, parts, strict=True)
    ]


def explanation_body(items: list[dict[str, Any]], names: tuple[str, ...]) -> bytes:
    """The explain answer: the feature names, then per row its score and contributions."""
    return json.dumps({"names": list(names), "explanations": items}).encode()
