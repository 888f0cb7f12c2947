"""The Scorer protocol: rows of features in, both models' scores out, or an honest failure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fraudit.ulb_vector import FeatureVector


@dataclass(frozen=True)
class Scores:
    fraud_proba: float
    anomaly_score: float


class ScoringUnavailable(RuntimeError):
    """A model could not score (endpoint down, timed out, or answered nonsense).

    The API turns this into a 503: it never invents a score."""


class Scorer(Protocol):
    model_version: str

    def score(self, rows: Sequence[FeatureVector]) -> list[Scores]:
        """One Scores per row, in order; raises ScoringUnavailable."""
        ...

    def close(self) -> None: ...
