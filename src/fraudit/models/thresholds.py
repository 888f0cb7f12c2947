"""Choosing the decision policy's thresholds on the validation slice."""

from __future__ import annotations

import numpy as np

from fraudit.models.metrics import _curve


def decline_threshold(
    y: np.ndarray, proba: np.ndarray, target_precision: float, w_neg: float
) -> float:
    """Lowest threshold whose (reweighted) precision reaches the target: decline as much
    fraud as possible while at most 1 - target of declines hurt genuine customers. When no
    threshold reaches it, the most precise one is taken."""
    tp, fp, thresholds = _curve(np.asarray(y), np.asarray(proba, dtype=np.float64), w_neg)
    precision = tp / (tp + fp)
    meets = np.flatnonzero(precision >= target_precision)
    index = int(meets.max()) if meets.size else int(np.argmax(precision))
    return float(thresholds[index])


def review_threshold(
    y: np.ndarray, proba: np.ndarray, target_recall: float, ceiling: float, max_review_rate: float
) -> float:
    """Highest threshold that still catches `target_recall` of the frauds (review + decline),
    unless that flags more than `max_review_rate` of genuine traffic: review teams have a
    budget, so the budget wins and the recall reached is reported instead."""
    y = np.asarray(y)
    tp, fp, thresholds = _curve(y, np.asarray(proba, dtype=np.float64), 1.0)
    recall = tp / max(float(np.sum(y)), 1.0)
    flagged_genuine = fp / max(float(len(y) - np.sum(y)), 1.0)
    index = int(np.flatnonzero(recall >= target_recall)[0])
    within_budget = np.flatnonzero(flagged_genuine <= max_review_rate)
    if within_budget.size and flagged_genuine[index] > max_review_rate:
        index = int(within_budget.max())
    return float(min(thresholds[index], ceiling))


def anomaly_threshold(scores: np.ndarray, review_rate: float) -> float | None:
    """Score above which `review_rate` of (unlabelled) validation traffic falls."""
    if review_rate <= 0:
        return None
    return float(np.quantile(scores, 1.0 - review_rate))
