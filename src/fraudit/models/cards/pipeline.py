"""`fraudit train --dataset cards`: a simulated (or real) card history and its backfilled
features -> (a) choose the trees on a validation period -> (b) refit as of the test period's
start, report the test period -> (c) refit as of the history's end -> a versioned bundle
under the family's own folder (`models/cards/`, its own LATEST)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from fraudit.decisions import DECLINE, REVIEW
from fraudit.families.cards import CARDS
from fraudit.features.definitions import FEATURE_NAMES, feature_set_version
from fraudit.files import sha256_file
from fraudit.models.artifacts import (
    SAGEMAKER_XGBOOST_CONTAINER,
    AnomalyArtifact,
    classifier_bytes,
    library_versions,
    model_version,
    write_bundle,
)
from fraudit.models.calibrate import calibrated, calibration_report
from fraudit.models.cards.ablation import compare_detectors
from fraudit.models.cards.contributions import family_contributions
from fraudit.models.cards.fairness import fairness_table
from fraudit.models.cards.protocol import CARD_OUT_OF_TIME_FOLDS, CardLevel, card_level
from fraudit.models.cards.report import card_report, decision_mix
from fraudit.models.cards.split import (
    LABEL_GAP_DAYS,
    TEST_DAYS,
    as_of,
    check_history_span,
    split_cards,
)
from fraudit.models.cards.table import CardTable, load_card_table
from fraudit.models.cards.train import CARD_PARAMS, fit_card_classifier
from fraudit.models.classifier import Recipe, predict
from fraudit.models.layout import family_root
from fraudit.models.sagemaker_code.card_anomaly_inference import MODEL_FILE, CardOutlier
from fraudit.models.ulb.train import TrainingResult
from fraudit.scoring.policy import DecisionPolicy
from fraudit.settings import Settings

Progress = Callable[[str], None]
SHAP_ROWS = 10_000


def _anomaly_artifact(detector: CardOutlier) -> AnomalyArtifact:
    return AnomalyArtifact(MODEL_FILE, detector.to_dict(), "card_anomaly_inference.py")


def _test_report(
    level: CardLevel, test: CardTable, rows_before: CardTable, seed: int
) -> dict[str, Any]:
    policy = level.policy
    assert policy.calibration is not None
    raw = predict(level.booster, test.X)
    proba = calibrated(policy.calibration, raw)
    anomaly = level.detector.score(test.X)
    made = np.array(
        [policy.decide(float(p), float(a)) for p, a in zip(proba, anomaly, strict=True)]
    )
    cut = {DECLINE: policy.decline_threshold, REVIEW: policy.review_threshold}
    # TreeSHAP costs rows x trees x depth^2: ~10k rows give family means to a few percent.
    every = max(1, test.n_rows // SHAP_ROWS)
    return {
        "classifier": card_report(test, proba),
        "decision_mix": decision_mix(test, made),
        "fairness": fairness_table(test, proba, cut),
        "calibration": calibration_report(test.y, raw, policy.calibration, 1.0),
        "anomaly": compare_detectors(rows_before, test, seed=seed),
        "family_contributions": family_contributions(
            level.booster, test.take(np.arange(test.n_rows) % every == 0)
        ),
    }


def _fold_rows(folds: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"| {f['fold']} | {f['train_rows']:,} | {f['trees']} | {f['test_period']} | "
        f"{f['test_rows']:,} | {f['test_frauds']} | {f['auprc']:.4f} | "
        f"{f['recall_at_budget']:.3f} | {f['card_precision_at_100']:.4f} "
        f"(perfect ranking {f['card_precision_at_100_perfect']:.4f}) | "
        f"{f['card_precision_at_share']:.4f} at {f['cards_per_day_at_share']} "
        f"(perfect ranking {f['card_precision_at_share_perfect']:.4f}) |"
        for f in folds
    )


FOLD_HEADER = (
    "| fold | train rows | trees | test period | test rows | frauds | AUPRC | recall at budget "
    "| card precision at 100 | card precision at 2% of cards |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def format_card_folds(folds: list[dict[str, Any]]) -> str:
    """The out-of-time folds as a Markdown table (`fraudit evaluate --dataset cards`)."""
    return f"{FOLD_HEADER}\n{_fold_rows(folds)}"


def _anomaly_rule(policy: DecisionPolicy) -> str:
    if policy.anomaly_review_threshold is not None:
        return f" or anomaly score >= {policy.anomaly_review_threshold}"
    return (
        "; the anomaly score is reported with every decision but sends nothing to review "
        "(it does not hold its review budget on real rows: docs/MODELS.md)"
    )


def _model_card(version: str, source: str, metrics: dict[str, Any], policy: DecisionPolicy) -> str:
    test, levels = metrics["test"], metrics["protocol"]
    clf = test["classifier"]
    anomaly = test["anomaly"]
    scenarios = "\n".join(
        f"| {name} | {s['frauds']} | {s['recall_at_budget']:.3f} |"
        for name, s in clf["by_scenario"].items()
    )
    return f"""# fraudit card model {version}

**Intended use.** Score card transactions (fraudit's card contract, the {len(FEATURE_NAMES)}
features of docs/FEATURES.md, feature set `{metrics["feature_set_version"]}`) in real time,
as the card family's two SageMaker endpoints. **Not for** other feature definitions, or as
the sole ground for adverse action: decisions of `review` go to people.

## Data and protocol
Source `{source}`: {metrics["rows"]:,} transactions, {metrics["frauds"]:,} frauds. A level
trains *as of* a time: on rows dated {LABEL_GAP_DAYS} days or more before it, with the labels
known at it (chargebacks); its calibration and thresholds come from {CARD_OUT_OF_TIME_FOLDS}
out-of-time folds of the recipe built the same way.

| level | as of | rows | trees | frauds not yet charged back |
|---|---|---|---|---|
| (a) choose | test start | {levels["a"]["rows"]:,} (+ validation) | {levels["a"]["trees"]} \
(early stopping) | - |
| (b) report | test start | {levels["b"]["rows"]:,} | {levels["b"]["trees"]} | \
{levels["b"]["frauds_not_yet_charged_back"]} |
| (c) ship | end of history | {levels["c"]["rows"]:,} | {levels["c"]["trees"]} | \
{levels["c"]["frauds_not_yet_charged_back"]} |

## Out-of-time folds of the shipped level (c)
{format_card_folds(levels["c"]["out_of_time"]["folds"])}

## Test period (level b, the last {TEST_DAYS} days)
AUPRC {clf["auprc"]:.4f}, ROC-AUC {clf["roc_auc"]:.4f}; recall at a
{clf["review_budget"]:.1%} review budget {clf["recall_at_budget"]:.3f}; card precision at 100
per day {clf["card_precision_at_100"]:.4f} (a perfect ranking:
{clf["card_precision_at_100_perfect"]:.4f}). Brier raw {test["calibration"]["brier_raw"]:.6f},
calibrated {test["calibration"]["brier_calibrated"]:.6f}.
Anomaly detector AUPRC {anomaly["card_outlier"]["auprc"]:.4f} against IsolationForest
{anomaly["isolation_forest"]["auprc"]:.4f} on the same rows.

| scenario | frauds | recall at budget |
|---|---|---|
{scenarios}

## Models
- Classifier: XGBoost {xgb.__version__} (`{SAGEMAKER_XGBOOST_CONTAINER}` SageMaker container),
  {metrics["classifier"]["params"]}, {levels["c"]["trees"]} trees; text/csv rows of the
  features in the manifest's order, an empty field for a missing value. The endpoint returns
  the raw probability; the policy's calibration makes it P(fraud).
- Anomaly detector: three histogram surprises (amount for its category, hour, the card's
  last hour) fitted on genuine rows (scikit-learn container, numpy-only `inference.py`).

## Policy `{policy.version}` (level c)
decline if P(fraud) >= {policy.decline_threshold:.4f}; review if P(fraud) >=
{policy.review_threshold:.4f}{_anomaly_rule(policy)}.

## Limits
Trained on what the history shows: a simulated history (docs/SIMULATOR.md) teaches the
simulator's fraud, not a portfolio's. Gender is never an input; the fairness table in
metrics.json shows recall and false-positive rates by gender and age band.
"""


def run_card_training(
    settings: Settings,
    *,
    history: Path,
    features: Path,
    out_dir: Path | None = None,
    progress: Progress = print,
) -> TrainingResult:
    started = time.perf_counter()
    progress(f"reading {history} and its features {features}")
    table = load_card_table(history, features)
    data = {
        "history": str(history),
        "history_sha256": sha256_file(history) if history.is_file() else None,
        "features": str(features),
    }
    return train_card_table(
        settings, table, data, str(history), out_dir=out_dir, progress=progress, started=started
    )


def train_card_table(
    settings: Settings,
    table: CardTable,
    data: dict[str, Any],
    source: str,
    *,
    out_dir: Path | None = None,
    progress: Progress = print,
    started: float | None = None,
) -> TrainingResult:
    """The three levels on a card table (a history and its backfill, or the store's own
    decisions and labels), written as a bundle under `out_dir`'s card root. `data` goes to
    the manifest, `source` to the model card."""
    started = time.perf_counter() if started is None else started
    root = family_root(out_dir or settings.model_dir, CARDS)
    progress(f"  {table.n_rows:,} transactions, {int(table.y.sum()):,} frauds")
    check_history_span(table)
    split = split_cards(table)
    progress(
        f"level (a): early stopping on a validation period ({split.train.n_rows:,} train, "
        f"{split.validation.n_rows:,} validation rows, labels as known at the test's start)"
    )
    chosen = fit_card_classifier(split.train, split.validation, seed=settings.seed)
    recipe = Recipe(dict(CARD_PARAMS), chosen.trees, split.train.n_rows)
    progress(f"  {chosen.trees} trees, validation AUPRC {chosen.validation_auprc:.4f}")

    progress(f"level (b): as of the test's start, the last {TEST_DAYS} days held out")
    level_b = card_level(
        settings,
        table,
        recipe,
        at=split.test_start,
        version=lambda *_: "level-b",
        progress=progress,
    )
    # The detectors are compared on the rows level (b) trained on, as it knew them.
    rows_before, _ = as_of(table, split.test_start)
    test = _test_report(level_b, split.test, rows_before, settings.seed)

    progress("level (c): as of the end of the history, the shipped model and policy")

    def shipped(booster: xgb.Booster, detector: CardOutlier) -> str:
        return model_version(classifier_bytes(booster), json.dumps(detector.to_dict()).encode())

    end = float(table.event_time.max()) + 1
    level_c = card_level(settings, table, recipe, at=end, version=shipped, progress=progress)
    policy = level_c.policy
    metrics: dict[str, Any] = {
        "family": CARDS.name,
        "model_version": policy.model_version,
        "feature_set_version": feature_set_version(),
        "rows": table.n_rows,
        "frauds": int(table.y.sum()),
        "classifier": {"params": dict(CARD_PARAMS), "recipe": recipe.to_dict()},
        "protocol": {
            "a": {
                "rows": split.train.n_rows,
                "trees": recipe.trees,
                "validation_auprc": chosen.validation_auprc,
            },
            "b": level_b.describe(),
            "c": level_c.describe(),
        },
        "test": test,
    }
    manifest = {
        "family": CARDS.name,
        "created_at": datetime.now(UTC).isoformat(),
        "data": {**data, "rows": table.n_rows, "frauds": int(table.y.sum())},
        "features": list(FEATURE_NAMES),
        "feature_set_version": feature_set_version(),
        "classifier": {"recipe": recipe.to_dict(), "trees": level_c.trees},
        "libraries": library_versions(),
    }
    path = write_bundle(
        root,
        version=policy.model_version,
        classifier=classifier_bytes(level_c.booster),
        anomaly=_anomaly_artifact(level_c.detector),
        policy=policy,
        metrics=metrics,
        manifest=manifest,
        model_card=_model_card(policy.model_version, source, metrics, policy),
    )
    seconds = time.perf_counter() - started
    clf = test["classifier"]
    progress(
        f"test period (level b): AUPRC {clf['auprc']:.4f}, recall at budget "
        f"{clf['recall_at_budget']:.3f}, card precision at 100 "
        f"{clf['card_precision_at_100']:.4f}; anomaly "
        f"{test['anomaly']['card_outlier']['auprc']:.4f} vs IsolationForest "
        f"{test['anomaly']['isolation_forest']['auprc']:.4f}"
    )
    progress(f"wrote {path} in {seconds:.1f} s")
    return TrainingResult(policy.model_version, path, metrics, seconds)
