"""Decision policy: two model scores in, approve / review / decline out. Pure Python (it runs
in the Lambda, which carries no numpy).

`fraudit train` fits the calibration and chooses the thresholds on out-of-time predictions
of the recipe it ships, and stores them with the model as `policy.json`; the thresholds
apply to the calibrated probability. The version string travels with every response and
stream event.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fraudit.decisions import APPROVE, DECLINE, REVIEW, Decision
from fraudit.scoring.calibration import CalibrationError, PlattCalibration

# Format 2 adds the calibration; format 1 documents (no calibration) still load and decide on
# the raw probability, as they always did.
POLICY_FORMAT = 2
READABLE_FORMATS = (1, 2)


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
    # Raw endpoint probability -> P(fraud) at the production rate; None: the raw value.
    calibration: PlattCalibration | None = None

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

    def fraud_probability(self, raw_proba: float) -> float:
        """The classifier endpoint's raw probability, calibrated: what the thresholds, the
        response's `pred_proba` and the stream event's `fraud_proba` mean."""
        return raw_proba if self.calibration is None else self.calibration.apply(raw_proba)

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
        document = {"format": POLICY_FORMAT, **asdict(self)}
        document["calibration"] = self.calibration.to_dict() if self.calibration else None
        return document

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> DecisionPolicy:
        if document.get("format") not in READABLE_FORMATS:
            raise PolicyError(f"unsupported policy format {document.get('format')!r}")
        fields = {k: v for k, v in document.items() if k != "format"}
        calibration = fields.get("calibration")
        try:
            if calibration is not None:
                if not isinstance(calibration, dict):
                    raise PolicyError("calibration must be an object")
                fields["calibration"] = PlattCalibration.from_dict(calibration)
            return cls(**fields)
        except (TypeError, CalibrationError) as exc:
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
