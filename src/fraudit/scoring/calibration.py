"""Calibration: the classifier endpoint's raw probability in, the probability of fraud at the
production fraud rate out. Pure Python (the Lambda carries no numpy); `fraudit train` fits
it and stores it in the policy, the API applies it after the endpoint answers, so the
SageMaker container keeps returning its own raw score.

Platt scaling on the logit: p = sigmoid(slope * logit(raw) + intercept). Two numbers, fitted
on out-of-time predictions with negatives reweighted to the production rate. With a positive
slope it is strictly increasing, so it moves thresholds but never reorders transactions:
AUPRC and every ranking figure are those of the raw score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Raw scores are clipped away from 0 and 1 before the logit: XGBoost's float32 output can
# round to either, and the logit of those is infinite.
RAW_EPSILON = 1e-12
PLATT = "platt"


class CalibrationError(ValueError):
    """A calibration document is malformed or not increasing."""


@dataclass(frozen=True)
class PlattCalibration:
    slope: float
    intercept: float

    def __post_init__(self) -> None:
        for name in ("slope", "intercept"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CalibrationError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise CalibrationError(f"{name} must be finite, got {value!r}")
        if self.slope <= 0:
            raise CalibrationError(
                f"slope must be positive (a calibration may not reverse the ranking), "
                f"got {self.slope!r}"
            )

    def apply(self, raw: float) -> float:
        """P(fraud) at the production rate for one raw classifier probability."""
        if not math.isfinite(raw):
            raise ValueError("raw probability must be finite")
        p = min(max(raw, RAW_EPSILON), 1.0 - RAW_EPSILON)
        z = self.slope * math.log(p / (1.0 - p)) + self.intercept
        # Two branches keep exp() from overflowing for large |z|.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def to_dict(self) -> dict[str, Any]:
        return {"method": PLATT, "slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> PlattCalibration:
        if document.get("method") != PLATT:
            raise CalibrationError(f"unknown calibration method {document.get('method')!r}")
        extra = set(document) - {"method", "slope", "intercept"}
        if extra:
            raise CalibrationError(f"unknown calibration fields {sorted(extra)}")
        try:
            return cls(slope=document["slope"], intercept=document["intercept"])
        except KeyError as exc:
            raise CalibrationError(f"calibration lacks {exc.args[0]!r}") from None
