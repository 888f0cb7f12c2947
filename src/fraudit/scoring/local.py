"""In-process Scorer: the trained artifacts loaded into this process (needs the `models`
extra). For benchmarks and for deployments that want no endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fraudit.features import FeatureVector
from fraudit.scoring.base import Scores, ScoringUnavailable

if TYPE_CHECKING:
    from fraudit.models.artifacts import ModelBundle


class InProcessScorer:
    def __init__(self, bundle: ModelBundle) -> None:
        import numpy as np

        from fraudit.models.classifier import predict

        self._np = np
        self._predict = predict
        self._bundle = bundle
        self.model_version = bundle.version

    def score(self, rows: Sequence[FeatureVector]) -> list[Scores]:
        if not rows:
            return []
        try:
            X = self._np.asarray(rows, dtype=self._np.float64)
            proba = self._predict(self._bundle.classifier, X)
            anomaly = self._bundle.anomaly.score(X)
        except Exception as exc:  # a model fault must not become a made-up score
            raise ScoringUnavailable(f"in-process scoring failed: {exc}") from exc
        return [Scores(float(p), float(a)) for p, a in zip(proba, anomaly, strict=True)]

    def close(self) -> None:
        return None
