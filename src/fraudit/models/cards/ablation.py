"""Does the history matter? The same split, the same run: a classifier on the row features
alone against one on row + history features, each read as a fraud team would
(`card_report`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fraudit.decisions import APPROVE, DECLINE, REVIEW
from fraudit.models import thresholds
from fraudit.models.cards.anomaly import fit_card_outlier
from fraudit.models.cards.contributions import family_contributions
from fraudit.models.cards.fairness import fairness_table
from fraudit.models.cards.report import card_report, decision_mix
from fraudit.models.cards.sim_to_real import sim_to_real
from fraudit.models.cards.split import CardSplit, split_cards
from fraudit.models.cards.table import ROW_ONLY, CardTable
from fraudit.models.cards.train import CardClassifier, fit_card_classifier
from fraudit.settings import Settings

FEATURE_SETS = {"row": ROW_ONLY, "row + history": None}  # None: every feature
FULL = "row + history"


def ablation(
    table: CardTable,
    *,
    seed: int,
    settings: Settings,
    real: CardTable | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Row vs row + history on one split; for the full model also its thresholds, decision
    mix per scenario, fairness table and feature-family contributions; both anomaly
    detectors; and, given the real rows, the sim-to-real check."""
    split = split_cards(table)
    out: dict[str, Any] = {
        "train_rows": split.train.n_rows,
        "validation_rows": split.validation.n_rows,
        "test_rows": split.test.n_rows,
        "unknown_train_frauds": split.unknown_train_frauds,
    }
    models: dict[str, CardClassifier] = {}
    test_scores: dict[str, np.ndarray] = {}
    for label, names in FEATURE_SETS.items():
        chosen = names or table.names
        train, validation, test = (
            part.columns(chosen) for part in (split.train, split.validation, split.test)
        )
        model = fit_card_classifier(train, validation, seed=seed)
        models[label], test_scores[label] = model, model.predict(test)
        out[label] = {"features": len(chosen), "trees": model.trees} | card_report(
            test, test_scores[label]
        )
        progress(
            f"  {label}: {len(chosen)} features, {model.trees} trees, test AUPRC "
            f"{out[label]['auprc']:.4f}, card precision at 100 "
            f"{out[label]['card_precision_at_100']:.4f}"
        )
    full = models[FULL]
    out |= decisions(full, split, test_scores[FULL], settings)
    every = max(1, split.test.n_rows // 50_000)  # TreeSHAP on at most ~50k test rows
    sample = split.test.take(np.arange(split.test.n_rows) % every == 0)
    out["family_contributions"] = family_contributions(full.booster, sample)
    if real is not None:
        out["sim_to_real"] = sim_to_real(split, real, seed=seed)
        progress(f"  sim-to-real AUPRC {out['sim_to_real']['auprc_real']:.4f}")
    out["anomaly"] = compare_detectors(split.train, split.test, seed=seed)
    progress(
        "  anomaly: card outlier detector AUPRC {:.4f}, IsolationForest {:.4f}".format(
            out["anomaly"]["card_outlier"]["auprc"], out["anomaly"]["isolation_forest"]["auprc"]
        )
    )
    return out


def decisions(
    model: CardClassifier, split: CardSplit, scores: np.ndarray, settings: Settings
) -> dict[str, Any]:
    """Thresholds chosen on the validation period as the ULB family chooses them (decline at
    the target precision, review to reach the target recall within the review budget), then
    what they do on the test period (`scores`): the decision mix per scenario and the
    fairness table."""
    validation = model.predict(split.validation)
    y = split.validation.y
    decline = thresholds.decline_threshold(y, validation, settings.policy_decline_precision, 1.0)
    review = thresholds.review_threshold(
        y,
        validation,
        settings.policy_review_recall,
        ceiling=decline,
        max_review_rate=settings.policy_max_review_rate,
    )
    declined = scores >= decline
    reviewed = (scores >= review) & ~declined
    made = np.where(declined, DECLINE, np.where(reviewed, REVIEW, APPROVE))
    return {
        "thresholds": {DECLINE: decline, REVIEW: review},
        "decision_mix": decision_mix(split.test, made),
        "fairness": fairness_table(split.test, scores, {DECLINE: decline, REVIEW: review}),
    }


def compare_detectors(train: CardTable, test: CardTable, *, seed: int) -> dict[str, Any]:
    """Our detector and IsolationForest, both fitted on the training period's genuine rows
    (as known), scored on the same test rows; the per-row cost of ours in process."""
    from sklearn.ensemble import IsolationForest

    genuine = train.X[train.y == 0]
    detector = fit_card_outlier(genuine, train.names)
    forest = IsolationForest(n_estimators=200, random_state=seed, n_jobs=1)
    # IsolationForest takes no missing values: they become a value below every other.
    fill = np.nanmin(genuine, axis=0) - 1
    fill = np.where(np.isnan(fill), -1.0, fill)
    forest.fit(np.where(np.isnan(genuine), fill, genuine))
    forest_scores = -forest.score_samples(np.where(np.isnan(test.X), fill, test.X))
    one_row = test.X[:1]
    started = time.perf_counter()
    for _ in range(1_000):
        detector.score(one_row)
    per_row_ms = (time.perf_counter() - started) / 1_000 * 1e3
    return {
        "card_outlier": card_report(test, detector.score(test.X)) | {"per_row_ms": per_row_ms},
        "isolation_forest": card_report(test, forest_scores),
    }
