"""Anomaly detector: robust Mahalanobis distance. SageMaker scikit-learn container entry point.

This file is the single implementation of the scoring math: the SageMaker container runs it
as `code/inference.py` (model_fn, transform_fn), and fraudit imports
it for the local model server and the in-process scorer. It needs only numpy, and the model
is plain JSON (location and precision matrix), so no scikit-learn version ties the artifact.

Score = log(1 + squared Mahalanobis distance / dimensions): about 0.7 for typical traffic,
larger for rarer rows. The log keeps the scale readable: the robust covariance of these
PCA features is nearly singular in a few directions, so raw distances of rows that leave
that subspace reach 1e9 (and that departure is itself the strongest fraud signal).
It answers like Random Cut Forest: {"scores": [{"score": s}, ...]}.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

try:  # in fraudit; in the container, csv_rows.py sits beside this file in code/
    from fraudit.models.sagemaker_code.csv_rows import (
        EXPLAIN_MEDIA_TYPE,
        media_type,
        parse_rows,
        text_of,
    )
except ImportError:  # pragma: no cover - the container's layout
    from csv_rows import EXPLAIN_MEDIA_TYPE, media_type, parse_rows, text_of  # type: ignore[no-redef]

MODEL_FILE = "anomaly.json"
FORMAT = "fraudit-robust-mahalanobis/1"
# What `transform` keeps of a row: V1..V28 and the log amount.
TERM_NAMES = (*(f"V{i}" for i in range(1, 29)), "log_amount")


class RobustMahalanobis:
    """Scores rows of (Time, V1..V28, Amount); Time is ignored, Amount enters as log1p."""

    def __init__(self, location: np.ndarray, precision: np.ndarray) -> None:
        self.location = np.asarray(location, dtype=np.float64)
        self.precision = np.asarray(precision, dtype=np.float64)
        if self.precision.shape != (len(self.location), len(self.location)):
            raise ValueError("precision matrix does not match location")

    @staticmethod
    def transform(rows: np.ndarray) -> np.ndarray:
        rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        if rows.shape[1] != 30:
            raise ValueError(f"expected 30 columns (Time, V1..V28, Amount), got {rows.shape[1]}")
        return np.column_stack([rows[:, 1:29], np.log1p(np.maximum(rows[:, 29], 0.0))])

    def terms(self, rows: np.ndarray) -> np.ndarray:
        """Each transformed column's share of the squared distance, per row (they add up to
        it; TERM_NAMES names them): the detector's own reasons for a review it causes."""
        centred = self.transform(rows) - self.location
        return np.asarray(centred * (centred @ self.precision))

    def score(self, rows: np.ndarray) -> np.ndarray:
        centred = self.transform(rows) - self.location
        distance = np.einsum("ij,jk,ik->i", centred, self.precision, centred)
        return np.log1p(distance / len(self.location))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "location": self.location.tolist(),
            "precision": self.precision.tolist(),
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> RobustMahalanobis:
        if document.get("format") != FORMAT:
            raise ValueError(f"unsupported anomaly model format {document.get('format')!r}")
        return cls(np.array(document["location"]), np.array(document["precision"]))


# ---- SageMaker scikit-learn container hooks ------------------------------------------------


def model_fn(model_dir: str) -> RobustMahalanobis:
    with open(os.path.join(model_dir, MODEL_FILE), encoding="utf-8") as handle:
        return RobustMahalanobis.from_dict(json.load(handle))


def transform_fn(
    model: RobustMahalanobis, body: bytes | str, content_type: str, accept: str
) -> tuple[str, str]:
    """Scores like Random Cut Forest ({"scores": [{"score": s}]}, or text/csv); with
    Accept: EXPLAIN_MEDIA_TYPE, each row's score and its columns' distance terms."""
    rows = parse_rows(text_of(body, content_type), 30)
    scores = model.score(rows)
    if media_type(accept) == EXPLAIN_MEDIA_TYPE:
        terms = model.terms(rows)
        items = [
            {"score": float(s), "terms": dict(zip(TERM_NAMES, map(float, t), strict=True))}
            for s, t in zip(scores, terms, strict=True)
        ]
        return json.dumps({"explanations": items}), EXPLAIN_MEDIA_TYPE
    if media_type(accept) == "text/csv":
        return "\n".join(repr(float(s)) for s in scores), "text/csv"
    return json.dumps({"scores": [{"score": float(s)} for s in scores]}), "application/json"
