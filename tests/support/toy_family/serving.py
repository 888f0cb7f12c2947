"""The toy family's models: P(fraud) = first number / 100, anomaly score = the second."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fraudit.deadline import Deadline
from fraudit.models.layout import family_root, resolve_version
from fraudit.models.server import Endpoint
from fraudit.scoring.base import Explanation, Scores
from tests.support.toy_family import TOY


def _proba(rows: np.ndarray) -> np.ndarray:
    return np.clip(rows[:, 0] / 100.0, 0.0, 1.0)


def _anomaly(rows: np.ndarray) -> np.ndarray:
    return rows[:, 1]


def _margins(rows: np.ndarray) -> np.ndarray:
    p = np.clip(_proba(rows), 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _explanations(rows: np.ndarray) -> list[Explanation]:
    """All of the margin is the first number's; the detector's one term is the second."""
    return [
        Explanation(("a", "b"), (float(m), 0.0), 0.0, {"b": float(b)})
        for m, b in zip(_margins(rows), _anomaly(rows), strict=True)
    ]


def _classifier_body(rows: np.ndarray) -> bytes:
    items = [
        {"score": float(p), "bias": e.bias, "contributions": list(e.contributions)}
        for p, e in zip(_proba(rows), _explanations(rows), strict=True)
    ]
    return json.dumps({"names": ["a", "b"], "explanations": items}).encode()


def _anomaly_body(rows: np.ndarray) -> bytes:
    items = [{"score": float(b), "terms": {"b": float(b)}} for b in _anomaly(rows)]
    return json.dumps({"explanations": items}).encode()


class ToyScorer:
    def __init__(self, version: str) -> None:
        self.model_version = version

    def score(self, rows: Sequence[list[float]], deadline: Deadline | None = None) -> list[Scores]:
        x = np.asarray(rows, dtype=np.float64)
        return [Scores(float(p), float(a)) for p, a in zip(_proba(x), _anomaly(x), strict=True)]

    def explain(
        self, rows: Sequence[list[float]], deadline: Deadline | None = None
    ) -> list[Explanation]:
        return _explanations(np.asarray(rows, dtype=np.float64))

    def close(self) -> None:
        return None


def _version(model_dir: Path, version: str | None) -> str:
    return resolve_version(family_root(model_dir, TOY), version, TOY)


def in_process_scorer(model_dir: Path, version: str | None) -> ToyScorer:
    return ToyScorer(_version(model_dir, version))


def _parse(body: bytes) -> np.ndarray:
    return np.array(
        [line.split(",") for line in body.decode().splitlines() if line.strip()], dtype=np.float64
    )


def endpoints(
    model_dir: Path, version: str | None, classifier: str, anomaly: str
) -> list[Endpoint]:
    served = _version(model_dir, version)
    return [
        Endpoint(classifier, "classifier", _proba, _parse, "two numbers", served, _classifier_body),
        Endpoint(anomaly, "anomaly", _anomaly, _parse, "two numbers", served, _anomaly_body),
    ]
