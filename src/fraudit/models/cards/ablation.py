"""Does the history matter? The same split, the same run: a classifier on the row features
alone against one on row + history features, each read as a fraud team would
(`card_report`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fraudit.models.cards.anomaly import fit_histogram_outlier
from fraudit.models.cards.report import card_report
from fraudit.models.cards.table import ROW_ONLY, CardTable
from fraudit.models.cards.train import fit_card_classifier, split_cards

FEATURE_SETS = {"row": ROW_ONLY, "row + history": None}  # None: every feature


def ablation(
    table: CardTable, *, seed: int, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    split = split_cards(table)
    out: dict[str, Any] = {
        "train_rows": split.train.n_rows,
        "validation_rows": split.validation.n_rows,
        "test_rows": split.test.n_rows,
        "unknown_train_frauds": split.unknown_train_frauds,
    }
    for label, names in FEATURE_SETS.items():
        chosen = names or table.names
        train, validation, test = (
            part.columns(chosen) for part in (split.train, split.validation, split.test)
        )
        model = fit_card_classifier(train, validation, seed=seed)
        out[label] = {"features": len(chosen), "trees": model.trees} | card_report(
            test, model.predict(test)
        )
        progress(
            f"  {label}: {len(chosen)} features, {model.trees} trees, test AUPRC "
            f"{out[label]['auprc']:.4f}, card precision at 100 "
            f"{out[label]['card_precision_at_100']:.4f}"
        )
    out["anomaly"] = compare_detectors(split.train, split.test, seed=seed)
    progress(
        "  anomaly: histogram detector AUPRC {:.4f}, IsolationForest {:.4f}".format(
            out["anomaly"]["histogram"]["auprc"], out["anomaly"]["isolation_forest"]["auprc"]
        )
    )
    return out


def compare_detectors(train: CardTable, test: CardTable, *, seed: int) -> dict[str, Any]:
    """Our detector and IsolationForest, both fitted on the training period's genuine rows
    (as known), scored on the same test rows; the per-row cost of ours in process."""
    from sklearn.ensemble import IsolationForest

    genuine = train.X[train.y == 0]
    detector = fit_histogram_outlier(genuine)
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
        "histogram": card_report(test, detector.score(test.X)) | {"per_row_ms": per_row_ms},
        "isolation_forest": card_report(test, forest_scores),
    }
