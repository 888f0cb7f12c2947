"""The card family's anomaly detector: the scoring half, and the SageMaker scikit-learn
container entry point (`code/inference.py` of the card anomaly artifact).

This file is the single implementation of the card detector's scoring: the container runs
it, the local model server and the training pipeline import it. It needs only numpy, and the
model is plain JSON, so no scikit-learn version ties the artifact. The fit (genuine rows ->
this model) is `fraudit.models.cards.anomaly`, which says what the three questions are.

Requests are text/csv rows of the card feature vector in the model's `names` order; an
empty field is a missing value, as the built-in XGBoost container reads it. It answers like
Random Cut Forest: {"scores": [{"score": s}, ...]}.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
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

MODEL_FILE = "card_anomaly.json"
# The three questions, as the detector's reasons name them (fraudit.models.cards.anomaly).
QUESTIONS = ("amount_for_category", "hour", "card_last_hour")
FORMAT = "fraudit-card-outlier/1"


class Side(StrEnum):
    HIGH = "high"  # large values are suspicious
    LOW = "low"  # small values are suspicious
    CODE = "code"  # a code: rare codes are suspicious
    BINS = "bins"  # no side: rare regions are suspicious


@dataclass(frozen=True)
class FeatureSurprise:
    side: Side
    points: np.ndarray  # HIGH/LOW: genuine quantiles; CODE: codes seen; BINS: bin edges
    surprise: np.ndarray  # CODE: per code, then unseen; BINS: per bin (below, ..., above)
    missing: float  # the surprise of a missing value

    @cached_property
    def _tail(self) -> np.ndarray:
        """HIGH/LOW: the surprise of k genuine quantiles at or beyond x, for k = 0..len(points):
        -log(max(k, 1) / (len + 1)), at least one grid step; built once, looked up per row."""
        k = np.arange(len(self.points) + 1)
        return np.asarray(-np.log(np.maximum(k, 1) / (len(self.points) + 1)))

    def score(self, column: np.ndarray) -> np.ndarray:
        # NaN sorts past every point, so every index below is in range; a missing value's
        # surprise replaces whatever it looked up.
        points = self.points
        if self.side is Side.HIGH:
            values = self._tail[len(points) - np.searchsorted(points, column, side="left")]
        elif self.side is Side.LOW:
            values = self._tail[np.searchsorted(points, column, side="right")]
        elif self.side is Side.CODE:
            index = np.minimum(np.searchsorted(points, column), len(points) - 1)
            values = np.where(points[index] == column, self.surprise[index], self.surprise[-1])
        else:
            index = np.searchsorted(points, column, side="right")
            index = np.where(column == points[-1], len(points) - 1, index)
            values = self.surprise[index]
        return np.where(np.isnan(column), self.missing, values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "side": self.side.value,
            "points": self.points.tolist(),
            "surprise": self.surprise.tolist(),
            "missing": self.missing,
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> FeatureSurprise:
        return cls(
            Side(document["side"]),
            np.asarray(document["points"], dtype=np.float64),
            np.asarray(document["surprise"], dtype=np.float64),
            float(document["missing"]),
        )


@dataclass(frozen=True)
class CardOutlier:
    """what (amount for its category) + when (hour) + how fast (the card's last hour)."""

    names: tuple[str, ...]
    amount_by_category: dict[float, FeatureSurprise]
    amount_any: FeatureSurprise  # for a category no genuine transaction had
    hour: FeatureSurprise
    recent: tuple[tuple[int, FeatureSurprise], ...]  # column, its upper-tail surprise

    def terms(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Each question's surprise per row (their sum is the score): the detector's own
        reasons for a review it causes."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != len(self.names):
            raise ValueError(f"{X.shape[1]} features, the detector has {len(self.names)}")
        amount, category = X[:, self.names.index("log_amount")], X[:, self.names.index("category")]
        what = self.amount_any.score(amount)
        # Only the categories present (one for a single row), not every known one.
        for code in np.unique(category[~np.isnan(category)]):
            surprise = self.amount_by_category.get(float(code))
            if surprise is not None:
                rows = category == code
                what[rows] = surprise.score(amount[rows])
        when = self.hour.score(X[:, self.names.index("hour")])
        fast = np.mean([s.score(X[:, j]) for j, s in self.recent], axis=0)
        return {QUESTIONS[0]: what, QUESTIONS[1]: when, QUESTIONS[2]: fast}

    def score(self, X: np.ndarray) -> np.ndarray:
        what, when, fast = self.terms(X).values()
        return what + when + fast

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "names": list(self.names),
            "amount_by_category": [
                [code, surprise.to_dict()] for code, surprise in self.amount_by_category.items()
            ],
            "amount_any": self.amount_any.to_dict(),
            "hour": self.hour.to_dict(),
            "recent": [[column, surprise.to_dict()] for column, surprise in self.recent],
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> CardOutlier:
        if document.get("format") != FORMAT:
            raise ValueError(f"unsupported card anomaly model format {document.get('format')!r}")
        return cls(
            names=tuple(document["names"]),
            amount_by_category={
                float(code): FeatureSurprise.from_dict(s)
                for code, s in document["amount_by_category"]
            },
            amount_any=FeatureSurprise.from_dict(document["amount_any"]),
            hour=FeatureSurprise.from_dict(document["hour"]),
            recent=tuple(
                (int(column), FeatureSurprise.from_dict(s)) for column, s in document["recent"]
            ),
        )


# ---- SageMaker scikit-learn container hooks ------------------------------------------------


def model_fn(model_dir: str) -> CardOutlier:
    with open(os.path.join(model_dir, MODEL_FILE), encoding="utf-8") as handle:
        return CardOutlier.from_dict(json.load(handle))


def transform_fn(
    model: CardOutlier, body: bytes | str, content_type: str, accept: str
) -> tuple[str, str]:
    """Scores like Random Cut Forest ({"scores": [{"score": s}]}, or text/csv); with
    Accept: EXPLAIN_MEDIA_TYPE, each row's score and its three questions' surprises."""
    rows = parse_rows(text_of(body, content_type), len(model.names))
    if media_type(accept) == EXPLAIN_MEDIA_TYPE:
        terms = model.terms(rows)
        items = [
            {
                "score": float(sum(v[i] for v in terms.values())),
                "terms": {k: float(v[i]) for k, v in terms.items()},
            }
            for i in range(len(rows))
        ]
        return json.dumps({"explanations": items}), EXPLAIN_MEDIA_TYPE
    scores = model.score(rows)
    if media_type(accept) == "text/csv":
        return "\n".join(repr(float(s)) for s in scores), "text/csv"
    return json.dumps({"scores": [{"score": float(s)} for s in scores]}), "application/json"
