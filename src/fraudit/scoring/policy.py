"""Decision policy: two model scores in, approve / review / decline out. Pure Python (it runs
in the Lambda, which carries no numpy).

The thresholds are chosen on the validation slice by `fraudit train` and stored with the
model as `policy.json`; the version string travels with every response and stream event.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fraudit.decisions import APPROVE, DECLINE, REVIEW, Decision

POLICY_FORMAT = 1


class PolicyError(ValueError):
    """A policy document is malformed or inconsistent."""


@dataclass(frozen=True)
class DecisionPolicy:
    version: str
    decline_threshold: float
    review_threshold: float
    # Scores at or above this send a transaction to review even when the classifier is calm:
    # the anomaly detector's job is the fraud pattern the classifier never saw.
    anomaly_review_threshold: float | None = None
    model_version: str = ""
    targets: dict[str, float] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("decline_threshold", "review_threshold"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise PolicyError(f"{name} must be a probability in [0, 1], got {value!r}")
        if self.review_threshold > self.decline_threshold:
            raise PolicyError("review_threshold must not exceed decline_threshold")
        if self.anomaly_review_threshold is not None and not math.isfinite(
            self.anomaly_review_threshold
        ):
            raise PolicyError("anomaly_review_threshold must be finite")
        if not self.version:
            raise PolicyError("policy version must not be empty")

    def predicts_fraud(self, fraud_proba: float) -> bool:
        """The classifier's own verdict at the operating point (the decline threshold)."""
        return fraud_proba >= self.decline_threshold

    def decide(self, fraud_proba: float, anomaly_score: float) -> Decision:
        if not (math.isfinite(fraud_proba) and math.isfinite(anomaly_score)):
            raise ValueError("scores must be finite; refusing to decide on a broken score")
        if fraud_proba >= self.decline_threshold:
            return DECLINE
        if fraud_proba >= self.review_threshold:
            return REVIEW
        if self.anomaly_review_threshold is not None and anomaly_score >= (
            self.anomaly_review_threshold
        ):
            return REVIEW
        return APPROVE

    def to_dict(self) -> dict[str, Any]:
        return {"format": POLICY_FORMAT, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> DecisionPolicy:
        if document.get("format") != POLICY_FORMAT:
            raise PolicyError(f"unsupported policy format {document.get('format')!r}")
        fields = {k: v for k, v in document.items() if k != "format"}
        try:
            return cls(**fields)
        except TypeError as exc:
            raise PolicyError(f"malformed policy: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> DecisionPolicy:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise PolicyError(f"policy is not JSON: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> DecisionPolicy:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
