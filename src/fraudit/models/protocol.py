"""The training protocol's honest parts: out-of-time predictions of a recipe, and the policy
(calibration + thresholds) fitted on them.

A policy fitted on one model's validation scores fits that model only; the shipped model is
refit on more rows and scores differently. Out-of-time predictions of the *recipe* (train on
everything before a cut, predict the next period, for several cuts) describe any model the
recipe makes, including the refit one, and never score a row the model trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fraudit.data.creditcard import Dataset
from fraudit.models import thresholds
from fraudit.models.artifacts import policy_version
from fraudit.models.calibrate import calibrated, fit_platt
from fraudit.models.classifier import Recipe, predict, train_recipe
from fraudit.models.metrics import average_precision, negative_weight
from fraudit.models.split import forward_folds
from fraudit.scoring.policy import DecisionPolicy
from fraudit.settings import Settings

# Forward-chained folds over the later half of the rows the policy may use.
OUT_OF_TIME_FOLDS = 4


@dataclass(frozen=True)
class OutOfTime:
    """Labels and raw probabilities of the periods each fold predicted, in time order."""

    y: np.ndarray
    raw: np.ndarray
    folds: list[dict[str, Any]]

    def describe(self, rate: float | None) -> dict[str, Any]:
        return {
            "rows": len(self.y),
            "frauds": int(self.y.sum()),
            "auprc": average_precision(self.y, self.raw, negative_weight(self.y, rate)),
            "folds": self.folds,
        }


def out_of_time(
    data: Dataset, recipe: Recipe, *, seed: int, rate: float, folds: int = OUT_OF_TIME_FOLDS
) -> OutOfTime:
    ys, raws, described = [], [], []
    for fold in forward_folds(data, folds):
        raw = predict(train_recipe(fold.train, recipe, seed), fold.test.X)
        ys.append(fold.test.y)
        raws.append(raw)
        described.append(
            {
                "fold": fold.number,
                "train_rows": fold.train.n_rows,
                "trees": recipe.trees_for(fold.train.n_rows),
                "test_rows": fold.test.n_rows,
                "test_frauds": fold.test.n_frauds,
                "auprc": average_precision(fold.test.y, raw, negative_weight(fold.test.y, rate)),
            }
        )
    return OutOfTime(np.concatenate(ys), np.concatenate(raws), described)


def fit_policy(
    settings: Settings,
    oot: OutOfTime,
    genuine_anomaly_scores: np.ndarray,
    model_version: str,
    *,
    reweight: bool = True,
    anomaly_decides: bool = True,
) -> DecisionPolicy:
    """Calibration on the out-of-time predictions, then every threshold on the calibrated
    values; the anomaly threshold flags the configured share of genuine traffic. With
    `reweight`, negatives count as at the production fraud rate (the ULB file is a sample
    at another rate); without, the rows are taken at their own rate (simulated card data
    is generated at the production rate). Without `anomaly_decides`, the detector's score
    is reported but sends nothing to review; its threshold is kept in `validation`."""
    rate = settings.production_fraud_rate if reweight else float(oot.y.mean())
    w_neg = negative_weight(oot.y, rate if reweight else None)
    calibration = fit_platt(oot.y, oot.raw, w_neg)
    proba = calibrated(calibration, oot.raw)
    decline = thresholds.decline_threshold(oot.y, proba, settings.policy_decline_precision, w_neg)
    review = thresholds.review_threshold(
        oot.y,
        proba,
        settings.policy_review_recall,
        ceiling=decline,
        max_review_rate=settings.policy_max_review_rate,
    )
    anomaly = thresholds.anomaly_threshold(
        genuine_anomaly_scores, settings.policy_anomaly_review_rate
    )
    fields: dict[str, Any] = {
        "decline_threshold": decline,
        "review_threshold": review,
        "anomaly_review_threshold": anomaly if anomaly_decides else None,
        "calibration": calibration.to_dict(),
        "targets": {
            "decline_precision": settings.policy_decline_precision,
            "review_recall": settings.policy_review_recall,
            "max_review_rate": settings.policy_max_review_rate,
            "anomaly_review_rate": settings.policy_anomaly_review_rate if anomaly_decides else 0.0,
            "production_fraud_rate": rate,
        },
        "validation": {
            "out_of_time_rows": float(len(oot.y)),
            "out_of_time_frauds": float(oot.y.sum()),
            # Where the detector would flag its share: kept when it does not decide, so an
            # evaluation can still say what it would have sent to review.
            **(
                {}
                if anomaly_decides or anomaly is None
                else {"anomaly_score_at_review_rate": anomaly}
            ),
        },
    }
    return DecisionPolicy(
        version=policy_version(fields),
        model_version=model_version,
        **{**fields, "calibration": calibration},
    )
