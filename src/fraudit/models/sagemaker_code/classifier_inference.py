"""The classifier's scores and explanations: the one implementation the in-process scorer
and the local model server use (and the XGBoost framework container's entry point,
`code/inference.py` of the classifier artifact, where an explanation is asked for with
`Accept: application/vnd.fraudit.explain+json`).

An explanation is XGBoost's own TreeSHAP (`pred_contribs`): one contribution per feature, in
log-odds, plus the bias; they add up to the model's margin, whose logistic is the score.
Exact TreeSHAP costs tens of times a prediction, so it is asked for only for the rows whose
answer needs it (docs/RULES.md, "Reasons"). Needs only xgboost and numpy."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import xgboost as xgb

try:  # in fraudit; in the container, csv_rows.py sits beside this file in code/
    from fraudit.models.sagemaker_code.csv_rows import (
        EXPLAIN_MEDIA_TYPE,
        media_type,
        parse_rows,
        text_of,
    )
except ImportError:  # pragma: no cover - the container's layout
    from csv_rows import EXPLAIN_MEDIA_TYPE, media_type, parse_rows, text_of  # type: ignore[no-redef]


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


def feature_names(booster: xgb.Booster) -> tuple[str, ...]:
    names = booster.feature_names
    return tuple(names) if names else tuple(f"f{i}" for i in range(booster.num_features()))


# ---- SageMaker XGBoost framework container hooks --------------------------------------------


def model_fn(model_dir: str) -> xgb.Booster:
    """The one model file at the artifact's root (the member the built-in container loads;
    code/ is a folder)."""
    (name,) = [n for n in os.listdir(model_dir) if os.path.isfile(os.path.join(model_dir, n))]
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, name))
    return booster


def transform_fn(
    model: xgb.Booster, body: bytes | str, content_type: str, accept: str
) -> tuple[str | bytes, str]:
    """text/csv rows (an empty field is missing) in; like the built-in container, one
    probability per line (or {"predictions": [{"score": p}]} for application/json); with
    Accept: EXPLAIN_MEDIA_TYPE, each row's score, contributions and bias."""
    rows = parse_rows(text_of(body, content_type), model.num_features())
    if media_type(accept) == EXPLAIN_MEDIA_TYPE:
        return explanation_body(explanations(model, rows), feature_names(model)), EXPLAIN_MEDIA_TYPE
    scores = probabilities(model, rows)
    if media_type(accept) == "application/json":
        return json.dumps(
            {"predictions": [{"score": float(s)} for s in scores]}
        ), "application/json"
    return "\n".join(repr(float(s)) for s in scores), "text/csv"
