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
from fraudit.scoring.base import Scores, ScoringUnavailable


class BundleScorer:
    """A `fraudit.scoring.base.Scorer` over a loaded bundle."""

    def __init__(
        self,
        version: str,
        classifier: xgb.Booster,
        anomaly: Callable[[np.ndarray], np.ndarray],
        matrix: Callable[[Sequence[Any]], np.ndarray],
        noun: str,
    ) -> None:
        self.model_version = version
        self._classifier = classifier
        self._anomaly = anomaly
        self._matrix = matrix
        self._noun = noun

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

    def close(self) -> None:
        return None
