"""A family's two models loaded into this process (FRAUDIT_SCORER=in-process, for
benchmarks and deployments that want no endpoints): the classifier's and the detector's
scores of a batch of rows, or an honest failure. Each family's serving module gives it its
bundle and how its rows become a matrix."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xgboost as xgb

from fraudit.deadline import Deadline
from fraudit.models.classifier import predict
from fraudit.models.sagemaker_code.classifier_inference import contributions
from fraudit.scoring.base import Explanation, Scores, ScoringUnavailable

# An anomaly detector's own terms of each row, by name (their sum or share makes its score).
AnomalyTerms = Callable[[np.ndarray], dict[str, np.ndarray]]
# What `fraudit deploy check-model` holds an anomaly container to: the detector's scores and
# its terms, on an array of rows.
DetectorCheck = tuple[Callable[[np.ndarray], np.ndarray], AnomalyTerms]


class BundleScorer:
    """A `fraudit.scoring.base.Scorer` over a loaded bundle."""

    def __init__(
        self,
        version: str,
        classifier: xgb.Booster,
        anomaly: Callable[[np.ndarray], np.ndarray],
        matrix: Callable[[Sequence[Any]], np.ndarray],
        noun: str,
        names: tuple[str, ...],
        anomaly_terms: AnomalyTerms,
    ) -> None:
        self.model_version = version
        self._classifier = classifier
        self._anomaly = anomaly
        self._matrix = matrix
        self._noun = noun
        self._names = names
        self._anomaly_terms = anomaly_terms

    def score(self, rows: Sequence[Any], deadline: Deadline | None = None) -> list[Scores]:
        if not rows:
            return []
        try:
            x = self._matrix(rows)
            proba = predict(self._classifier, x)
            with np.errstate(over="ignore", invalid="ignore"):  # checked per row by the caller
                anomaly = self._anomaly(x)
        except Exception as exc:  # a model fault must not become a made-up score
            raise ScoringUnavailable(
                f"in-process {self._noun} scoring failed: {exc}",
                f"the in-process {self._noun} models failed to score",
                refused_rows=True,
            ) from exc
        return [Scores(float(p), float(a)) for p, a in zip(proba, anomaly, strict=True)]

    def explain(self, rows: Sequence[Any], deadline: Deadline | None = None) -> list[Explanation]:
        if not rows:
            return []
        try:
            x = self._matrix(rows)
            parts = contributions(self._classifier, x)
            with np.errstate(over="ignore", invalid="ignore"):
                terms = self._anomaly_terms(x)
        except Exception as exc:
            raise ScoringUnavailable(
                f"in-process {self._noun} explanation failed: {exc}",
                f"the in-process {self._noun} models failed to explain",
                refused_rows=True,
            ) from exc
        return [
            Explanation(
                self._names,
                tuple(float(v) for v in row[:-1]),
                float(row[-1]),
                {name: float(values[i]) for name, values in terms.items()},
            )
            for i, row in enumerate(parts)
        ]

    def close(self) -> None:
        return None
