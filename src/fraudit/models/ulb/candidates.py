"""Candidate changes to the shipped recipe, each trained on the same forward-chained folds
as the recipe itself and judged on the paired AUPRC difference (`fraudit evaluate
--candidates --folds N`). A candidate is kept only if it wins beyond two standard errors;
every candidate's figures are reported, kept or not (docs/MODELS.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb

from fraudit.data.creditcard import Dataset
from fraudit.models.classifier import (
    BASE_PARAMS,
    FEATURE_WEIGHTS,
    Recipe,
    class_weight,
    predict,
    train_recipe,
)
from fraudit.models.metrics import classification_report, paired_outcome
from fraudit.models.split import forward_folds
from fraudit.models.ulb.anomaly import RobustMahalanobis, fit_anomaly_detector
from fraudit.ulb_vector import ULB_COLUMNS

Progress = Callable[[str], None]
ANOMALY_FEATURE = "anomaly_score"


@dataclass(frozen=True)
class Candidate:
    name: str
    what: str
    params: dict[str, Any] = field(default_factory=dict)
    # The anomaly detector's score (fitted on the fold's training rows) as a 31st input.
    anomaly_input: bool = False
    # "sqrt" (the recipe's), "none" (1) or "full" (n_neg / n_pos) for scale_pos_weight.
    balancing: str = "sqrt"


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("anomaly-input", "the anomaly score as a 31st input", anomaly_input=True),
    Candidate(
        "anomaly-input-monotone",
        "the anomaly score as an input, the prediction monotone increasing in it",
        {"monotone_constraints": {ANOMALY_FEATURE: 1}},
        anomaly_input=True,
    ),
    Candidate("unbalanced", "no class weighting (scale_pos_weight 1)", balancing="none"),
    Candidate("fully-balanced", "scale_pos_weight n_neg / n_pos", balancing="full"),
    Candidate(
        "rank-pairwise", "objective rank:pairwise (a ranking loss)", {"objective": "rank:pairwise"}
    ),
    Candidate(
        "additive-in-v",
        "interaction constraints: each V feature may interact with Amount only",
        {"interaction_constraints": [[name, "Amount"] for name in ULB_COLUMNS[1:29]]},
    ),
)


def _scale_pos_weight(y: np.ndarray, balancing: str) -> float:
    if balancing == "none":
        return 1.0
    n_pos = max(int(y.sum()), 1)
    return (len(y) - n_pos) / n_pos if balancing == "full" else class_weight(y)


def fit_candidate(
    train: Dataset,
    recipe: Recipe,
    candidate: Candidate,
    seed: int,
    detector: RobustMahalanobis | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """The candidate trained on `train` by the recipe's tree rule; returns its scorer."""
    if candidate.anomaly_input and detector is None:
        detector = fit_anomaly_detector(train.X, seed=seed)
    use = detector if candidate.anomaly_input else None

    def features(X: np.ndarray) -> np.ndarray:
        return X if use is None else np.column_stack([X, use.score(X)])

    names = list(ULB_COLUMNS) + ([ANOMALY_FEATURE] if use else [])
    weights = np.r_[FEATURE_WEIGHTS, 1.0] if use else FEATURE_WEIGHTS
    params = {
        **BASE_PARAMS,
        **recipe.params,
        "seed": seed,
        "scale_pos_weight": _scale_pos_weight(train.y, candidate.balancing),
        **candidate.params,
    }
    if str(params["objective"]).startswith("rank:"):
        del params["scale_pos_weight"]  # ranking objectives have no class weight
    dtrain = xgb.DMatrix(features(train.X), label=train.y, feature_names=names)
    dtrain.set_info(feature_weights=weights)
    booster = xgb.train(params, dtrain, recipe.trees_for(train.n_rows))
    return lambda X: predict(booster, features(X))


def compare_candidates(
    data: Dataset,
    recipe: Recipe,
    *,
    folds: int,
    rate: float,
    seed: int = 0,
    candidates: tuple[Candidate, ...] = CANDIDATES,
    progress: Progress = print,
) -> dict[str, Any]:
    """Per fold and candidate: AUPRC, recall at 0.1% FPR, and the paired AUPRC difference
    candidate - shipped recipe; then mean and sd of that difference over folds."""
    rows: dict[str, list[dict[str, float]]] = {c.name: [] for c in candidates}
    baseline: list[float] = []
    for fold in forward_folds(data, folds):
        progress(f"  fold {fold.number}/{folds}: shipped recipe and {len(candidates)} candidates")
        base = classification_report(
            fold.test.y, predict(train_recipe(fold.train, recipe, seed), fold.test.X), np.inf, rate
        )
        baseline.append(base["auprc"])
        detector = (
            fit_anomaly_detector(fold.train.X, seed=seed)
            if any(c.anomaly_input for c in candidates)
            else None
        )
        for candidate in candidates:
            score = fit_candidate(fold.train, recipe, candidate, seed, detector)
            report = classification_report(fold.test.y, score(fold.test.X), np.inf, rate)
            rows[candidate.name].append(
                {
                    "auprc": report["auprc"],
                    "recall_at_fpr_0.1%": report["recall_at_fpr_0.1%"],
                    "difference_auprc": report["auprc"] - base["auprc"],
                }
            )
    result: dict[str, Any] = {
        "folds": folds,
        "seed": seed,
        "recipe": recipe.to_dict(),
        "shipped_auprc": baseline,
        "candidates": {},
    }
    for candidate in candidates:
        diffs = [r["difference_auprc"] for r in rows[candidate.name]]
        mean, sd = float(np.mean(diffs)), float(np.std(diffs, ddof=1))
        outcome = paired_outcome(mean, sd, len(diffs))
        result["candidates"][candidate.name] = {
            "what": candidate.what,
            "folds": rows[candidate.name],
            "auprc_mean": float(np.mean([r["auprc"] for r in rows[candidate.name]])),
            "difference_auprc": {"mean": mean, "sd": sd},
            "verdict": {1: "wins", 0: "no clear difference", -1: "loses"}[outcome],
        }
    return result


def format_candidates(result: dict[str, Any]) -> str:
    shipped = result["shipped_auprc"]
    lines = [
        f"candidates on {result['folds']} forward-chained folds, each paired with the shipped "
        f"recipe (AUPRC {np.mean(shipped):.4f} mean)",
        f"{'candidate':<24} {'AUPRC':>7} {'diff mean ± sd':>18}  verdict",
    ]
    for name, c in result["candidates"].items():
        d = c["difference_auprc"]
        lines.append(
            f"{name:<24} {c['auprc_mean']:>7.4f} {d['mean']:>+9.4f} ± {d['sd']:.4f}  "
            f"{c['verdict']}: {c['what']}"
        )
    return "\n".join(lines)
