"""The Scorer protocol: rows of features in, both models' scores out, or an honest failure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from fraudit.deadline import Deadline


@dataclass(frozen=True)
class Scores:
    fraud_proba: float
    anomaly_score: float


class ScoringUnavailable(RuntimeError):
    """A model could not score (endpoint down, timed out, or answered nonsense).

    The API turns this into a 503: it never invents a score. `str(exc)` is for the log (it
    may carry AWS's own error text); `public` is what a client may read: which model and
    what went wrong, no AWS internals."""

    def __init__(
        self,
        message: str,
        public: str = "a model endpoint is unavailable",
        *,
        refused_rows: bool = False,
    ) -> None:
        super().__init__(message)
        self.public = public
        # The endpoint answered, but refused (or garbled) what it was sent: one row of a
        # group may be the cause, so the caller retries the rows one by one. False when
        # the endpoint could not be reached or did not answer in time (retrying each row
        # would multiply an outage).
        self.refused_rows = refused_rows


@dataclass(frozen=True)
class Explanation:
    """Why the two models scored a row as they did: the classifier's TreeSHAP contribution
    per feature (log-odds, `names` order) and its bias, which add up to its margin; and the
    anomaly detector's own terms (the card detector's three questions, the ULB detector's
    per-column shares of its distance)."""

    names: tuple[str, ...]
    contributions: tuple[float, ...]
    bias: float
    anomaly_terms: dict[str, float]


# How a model server is asked for explanations instead of scores (the Accept header).
EXPLAIN_MEDIA_TYPE = "application/vnd.fraudit.explain+json"

Row = TypeVar("Row", contravariant=True)


class Scorer(Protocol[Row]):
    """Scores rows of one family: ULB vectors (`Scorer[FeatureVector]`) or card vectors
    (`Scorer[CardVector]`)."""

    model_version: str

    def score(self, rows: Sequence[Row], deadline: Deadline | None = None) -> list[Scores]:
        """One Scores per row, in order, by the deadline; raises ScoringUnavailable. A row's
        scores may be non-finite (the caller refuses to decide on those rows only)."""
        ...

    def explain(self, rows: Sequence[Row], deadline: Deadline | None = None) -> list[Explanation]:
        """One Explanation per row, in order (costly: only for rows whose answer needs
        reasons); raises ScoringUnavailable."""
        ...

    def close(self) -> None: ...
