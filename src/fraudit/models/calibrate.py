"""Fitting the calibration (fraudit.scoring.calibration applies it) and judging it: Brier
score and reliability bins, each with negatives reweighted to the production fraud rate so
that "0.3" means three in ten at production's rate, not at the development slice's."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from fraudit.scoring.calibration import RAW_EPSILON, PlattCalibration

# Reliability bins: equal-width on a log scale, because almost all traffic scores below 1%.
RELIABILITY_EDGES = (0.0, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5, 0.8, 1.0)


def _logit(raw: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(raw, dtype=np.float64), RAW_EPSILON, 1.0 - RAW_EPSILON)
    return np.log(p / (1.0 - p))


def _weights(y: np.ndarray, w_neg: float) -> np.ndarray:
    return np.where(np.asarray(y) == 1, 1.0, w_neg)


def fit_platt(y: np.ndarray, raw: np.ndarray, w_neg: float) -> PlattCalibration:
    """Logistic regression of the label on logit(raw), negatives weighted by `w_neg`
    (unpenalised: two parameters on thousands of rows need no shrinkage)."""
    from sklearn.linear_model import LogisticRegression  # training-only dependency

    y = np.asarray(y)
    if y.min() == y.max():
        raise ValueError("calibration needs both frauds and genuine rows")
    model = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1_000)
    model.fit(_logit(raw)[:, None], y, sample_weight=_weights(y, w_neg))
    return PlattCalibration(slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]))


def calibrated(calibration: PlattCalibration, raw: np.ndarray) -> np.ndarray:
    """The API's own function over an array: training and serving compute the same value."""
    return np.array([calibration.apply(float(p)) for p in np.asarray(raw)], dtype=np.float64)


def brier(y: np.ndarray, proba: np.ndarray, w_neg: float) -> float:
    """Mean squared error of the probability against the label, production-weighted."""
    w = _weights(y, w_neg)
    return float(np.sum(w * (np.asarray(proba) - np.asarray(y)) ** 2) / np.sum(w))


def reliability(y: np.ndarray, proba: np.ndarray, w_neg: float) -> list[dict[str, Any]]:
    """Per bin of predicted probability: rows, frauds, mean prediction and the observed
    (production-weighted) fraud rate. A calibrated model has the two equal."""
    y, proba, w = np.asarray(y), np.asarray(proba, dtype=np.float64), _weights(y, w_neg)
    rows = []
    for low, high in pairwise(RELIABILITY_EDGES):
        inside = (proba >= low) & ((proba <= high) if high == 1.0 else (proba < high))
        if not inside.any():
            continue
        weight = float(w[inside].sum())
        rows.append(
            {
                "bin": [low, high],
                "rows": int(inside.sum()),
                "frauds": int(y[inside].sum()),
                "mean_predicted": float(np.sum(w[inside] * proba[inside]) / weight),
                "observed_rate": float(np.sum(w[inside] * y[inside]) / weight),
            }
        )
    return rows


def calibration_report(
    y: np.ndarray, raw: np.ndarray, calibration: PlattCalibration, w_neg: float
) -> dict[str, Any]:
    """Brier score and reliability bins of the raw and of the calibrated probability."""
    fitted = calibrated(calibration, raw)
    return {
        "brier_raw": brier(y, raw, w_neg),
        "brier_calibrated": brier(y, fitted, w_neg),
        "reliability_raw": reliability(y, raw, w_neg),
        "reliability_calibrated": reliability(y, fitted, w_neg),
    }


def reliability_plot(report: dict[str, Any], path: Path, title: str) -> None:
    """Observed (production-weighted) fraud rate against the mean predicted probability per
    bin, raw and calibrated, on log axes: the diagonal is a calibrated model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    floor = 1e-6  # a bin with no fraud is drawn at the floor of the log axis
    ax.plot([floor, 1], [floor, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for key, label, marker in (
        ("reliability_raw", f"raw (Brier {report['brier_raw']:.6f})", "o"),
        ("reliability_calibrated", f"calibrated (Brier {report['brier_calibrated']:.6f})", "s"),
    ):
        bins = report[key]
        ax.plot(
            [max(b["mean_predicted"], floor) for b in bins],
            [max(b["observed_rate"], floor) for b in bins],
            marker=marker,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mean predicted P(fraud) in bin")
    ax.set_ylabel("observed fraud rate (negatives reweighted)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
