"""In-process Scorer: the trained artifacts loaded into this process (needs the `models`
extra, so this module is imported only when FRAUDIT_SCORER=in-process). For benchmarks
and for deployments that want no endpoints."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fraudit.deadline import Deadline
from fraudit.models.artifacts import ModelBundle
from fraudit.models.cards.bundle import CardBundle
from fraudit.models.classifier import predict
from fraudit.scoring.base import CardVector, Scores, ScoringUnavailable
from fraudit.ulb_vector import FeatureVector


class InProcessScorer:
    def __init__(self, bundle: ModelBundle) -> None:
        self._bundle = bundle
        self.model_version = bundle.version

    def score(
        self, rows: Sequence[FeatureVector], deadline: Deadline | None = None
    ) -> list[Scores]:
        if not rows:
            return []
        try:
            X = np.asarray(rows, dtype=np.float64)
            proba = predict(self._bundle.classifier, X)
            with np.errstate(over="ignore", invalid="ignore"):  # checked per row by the caller
                anomaly = self._bundle.anomaly.score(X)
        except Exception as exc:  # a model fault must not become a made-up score
            raise ScoringUnavailable(
                f"in-process scoring failed: {exc}",
                "the in-process models failed to score",
                refused_rows=True,
            ) from exc
        return [Scores(float(p), float(a)) for p, a in zip(proba, anomaly, strict=True)]

    def close(self) -> None:
        return None


class InProcessCardScorer:
    """The card family's models in this process: rows are card vectors (name -> value,
    None for missing)."""

    def __init__(self, bundle: CardBundle) -> None:
        self._bundle = bundle
        self.model_version = bundle.version

    def score(self, rows: Sequence[CardVector], deadline: Deadline | None = None) -> list[Scores]:
        if not rows:
            return []
        names = self._bundle.names
        try:
            X = np.array(
                [[np.nan if r[n] is None else r[n] for n in names] for r in rows], dtype=np.float64
            )
            proba = predict(self._bundle.classifier, X)
            anomaly = self._bundle.anomaly.score(X)
        except Exception as exc:
            raise ScoringUnavailable(
                f"in-process card scoring failed: {exc}",
                "the in-process card models failed",
                refused_rows=True,
            ) from exc
        return [Scores(float(p), float(a)) for p, a in zip(proba, anomaly, strict=True)]

    def close(self) -> None:
        return None
