"""`fraudit train`: data -> temporal split -> (a) choose the recipe on validation -> (b) refit
on train + validation, report the test slice -> (c) refit on every row, fit the policy on
out-of-time predictions -> versioned artifacts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from fraudit.data.creditcard import Dataset
from fraudit.data.datasets import resolve_dataset
from fraudit.decisions import DECISIONS, DECLINE
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
from fraudit.models.classifier import Recipe, predict, train_classifier, train_recipe
from fraudit.models.metrics import classification_report, negative_weight
from fraudit.models.protocol import OUT_OF_TIME_FOLDS, OutOfTime, fit_policy, out_of_time
from fraudit.models.split import TemporalSplit, temporal_split
from fraudit.models.ulb.anomaly import (
    RobustMahalanobis,
    fit_anomaly_detector,
    fit_isolation_forest_scores,
)
from fraudit.scoring.policy import DecisionPolicy
from fraudit.settings import Settings
from fraudit.ulb_vector import ULB_COLUMNS

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingResult:
    version: str
    path: Path
    metrics: dict[str, Any]
    seconds: float


def decision_mix(
    policy: DecisionPolicy, y: np.ndarray, proba: np.ndarray, anomaly: np.ndarray, w_neg: float
) -> dict[str, dict[str, float]]:
    """Share of genuine and of fraudulent rows per decision."""
    decisions = np.array(
        [policy.decide(float(p), float(a)) for p, a in zip(proba, anomaly, strict=True)]
    )
    mix: dict[str, dict[str, float]] = {}
    for name, mask in (("genuine", y == 0), ("fraud", y == 1)):
        total = max(int(mask.sum()), 1)
        mix[name] = {d: float(np.sum(decisions[mask] == d) / total) for d in DECISIONS}
    # Of all declines in production-weighted traffic, how many are frauds.
    declined = decisions == DECLINE
    fraud_declines = float(np.sum(declined & (y == 1)))
    genuine_declines = float(np.sum(declined & (y == 0))) * w_neg
    mix["decline_precision"] = {
        "weighted": fraud_declines / (fraud_declines + genuine_declines)
        if fraud_declines + genuine_declines
        else 0.0
    }
    return mix


def _level_table(metrics: dict[str, Any]) -> str:
    levels = metrics["protocol"]
    a, b, c = levels["a"], levels["b"], levels["c"]
    return f"""| level | trained on | trees | what it gives | figure |
|---|---|---|---|---|
| (a) choose | first 60% ({a["rows"]:,} rows) | {a["trees"]} (early stopping) | parameters, \
trees per row | validation AUPRC {a["validation_auprc"]:.4f} |
| (b) report | first 80% ({b["rows"]:,} rows) | {b["trees"]} (rule) | the test figures \
below, with its own out-of-time policy | test AUPRC {metrics["test"]["classifier"]["auprc"]:.4f} |
| (c) ship | every row ({c["rows"]:,}) | {c["trees"]} (rule) | the shipped model and \
policy | out-of-time AUPRC of the recipe {c["out_of_time"]["auprc"]:.4f} |"""


def _model_card(
    version: str,
    data: Dataset,
    split: TemporalSplit,
    metrics: dict[str, Any],
    policy: DecisionPolicy,
) -> str:
    clf, anom = metrics["test"]["classifier"], metrics["test"]["anomaly"]
    iso = metrics["test"]["isolation_forest"]
    cal = metrics["test"]["calibration"]
    at = clf["at_threshold"]
    assert policy.calibration is not None
    return f"""# fraudit model {version}

**Intended use.** Score card transactions (ULB creditcard.csv features: Time, V1..V28, Amount)
for fraud in real time, as the two SageMaker endpoints behind fraudit's /predict.
**Not for** other feature spaces, other card portfolios without retraining, or as the sole
ground for adverse action against a customer: decisions of `review` go to people.

## Data
- Source: `{data.source}` — {data.n_rows:,} rows, {data.n_frauds:,} frauds.
- Temporal split (train on earlier Time, validate and test on later): train Time <
  {split.cut_validation:.0f} s, validation < {split.cut_test:.0f} s, test after.
  Sizes: {split.describe()}.
- Thresholds, calibration and precision use negatives reweighted to a production fraud rate
  of {policy.targets["production_fraud_rate"]:.3%}.

## Protocol: which figure comes from which level
{_level_table(metrics)}

Each level's rule is fixed before the next looks at its rows: (a) picks the parameters and
the trees on validation; (b) and (c) refit on more rows with trees scaled by the row ratio.
The calibration and thresholds of (b) and (c) are fitted on out-of-time predictions of the
recipe (train on everything before a cut, predict the next period; {OUT_OF_TIME_FOLDS} cuts
over the later half of the rows the level may use), never on rows a model trained on.

## Models
- Classifier: XGBoost {xgb.__version__} (`{SAGEMAKER_XGBOOST_CONTAINER}` SageMaker container),
  params {metrics["classifier"]["params"]}, {metrics["classifier"]["trees"]} trees. Raw Time
  is excluded (feature weight 0). The endpoint returns the raw probability; the API
  calibrates it (Platt: slope {policy.calibration.slope:.4f}, intercept
  {policy.calibration.intercept:.4f}), so `pred_proba` is P(fraud) at the production rate.
- Anomaly detector: robust Mahalanobis distance (Minimum Covariance Determinant), unsupervised,
  fitted on every row.

## Test-slice results (level b: refit on the first 80%, policy from its out-of-time folds)
| model | AUPRC (reweighted) | AUPRC (as sampled) | ROC-AUC |
|---|---|---|---|
| classifier | {clf["auprc"]:.4f} | {clf["auprc_unweighted"]:.4f} | {clf["roc_auc"]:.4f} |
| anomaly detector | {anom["auprc"]:.4f} | {anom["auprc_unweighted"]:.4f} | {anom["roc_auc"]:.4f} |
| IsolationForest, same rows | {iso["auprc"]:.4f} | {iso["auprc_unweighted"]:.4f} | \
{iso["roc_auc"]:.4f} |

Brier score (production-weighted): raw {cal["brier_raw"]:.6f}, calibrated
{cal["brier_calibrated"]:.6f}.
At the decline threshold: precision {at["precision"]:.3f} (reweighted), recall
{at["recall"]:.3f}, F1 {at["f1"]:.3f}, balanced accuracy {at["balanced_accuracy"]:.3f},
Cohen's kappa {at["cohen_kappa"]:.3f}.

## Policy `{policy.version}` (shipped, level c)
decline if P(fraud) >= {policy.decline_threshold:.4f}; review if P(fraud) >=
{policy.review_threshold:.4f} or anomaly score >= {policy.anomaly_review_threshold}; else approve.
P(fraud) is the calibrated probability.

## Limits
The V features are PCA components of undisclosed raw data: the model cannot be explained in
business terms, and drifts when the card population or the PCA changes. Retrain on fresh data.
"""


@dataclass(frozen=True)
class _Level:
    """One refit of the recipe: its model, detector and out-of-time policy."""

    booster: xgb.Booster
    detector: RobustMahalanobis
    policy: DecisionPolicy
    out_of_time: OutOfTime
    rows: int
    trees: int


def _refit(
    settings: Settings,
    data: Dataset,
    recipe: Recipe,
    version: Callable[[xgb.Booster, RobustMahalanobis], str],
    progress: Progress,
) -> _Level:
    seed, rate = settings.seed, settings.production_fraud_rate
    trees = recipe.trees_for(data.n_rows)
    progress(f"  {OUT_OF_TIME_FOLDS} out-of-time folds of the recipe")
    oot = out_of_time(data, recipe, seed=seed, rate=rate)
    progress(f"  refit on {data.n_rows:,} rows ({trees} trees) and the anomaly detector")
    booster = train_recipe(data, recipe, seed)
    detector = fit_anomaly_detector(data.X, seed=seed)
    policy = fit_policy(
        settings, oot, detector.score(data.X[data.y == 0]), version(booster, detector)
    )
    return _Level(booster, detector, policy, oot, data.n_rows, trees)


def _anomaly_blob(detector: RobustMahalanobis) -> bytes:
    return repr(detector.to_dict()).encode()


def _test_report(
    settings: Settings, split: TemporalSplit, level: _Level, iso_test: np.ndarray
) -> dict[str, Any]:
    rate = settings.production_fraud_rate
    w_test = negative_weight(split.test.y, rate)
    policy = level.policy
    assert policy.calibration is not None
    raw = predict(level.booster, split.test.X)
    proba = calibrated(policy.calibration, raw)
    anomaly = level.detector.score(split.test.X)
    return {
        "classifier": classification_report(split.test.y, proba, policy.decline_threshold, rate),
        "anomaly": classification_report(
            split.test.y, anomaly, policy.anomaly_review_threshold or np.inf, rate
        ),
        "isolation_forest": classification_report(split.test.y, iso_test, np.inf, rate),
        "decisions": decision_mix(policy, split.test.y, proba, anomaly, w_test),
        "calibration": calibration_report(split.test.y, raw, policy.calibration, w_test),
        "policy": {
            "decline_threshold": policy.decline_threshold,
            "review_threshold": policy.review_threshold,
            "anomaly_review_threshold": policy.anomaly_review_threshold,
            # Does the review rate set on the level's own rows carry over to later ones?
            "anomaly_flagged_genuine": float(
                np.mean(anomaly[split.test.y == 0] >= policy.anomaly_review_threshold)
            )
            if policy.anomaly_review_threshold is not None
            else 0.0,
            "anomaly_review_rate_target": settings.policy_anomaly_review_rate,
        },
    }


def run_training(
    settings: Settings,
    *,
    data_path: Path | None = None,
    out_dir: Path | None = None,
    progress: Progress = print,
) -> TrainingResult:
    """The three levels of docs/MODELS.md: (a) choose on validation, (b) refit on train +
    validation and report the test slice, (c) refit on every row and ship."""
    started = time.perf_counter()
    out_dir = out_dir or settings.model_dir
    data = resolve_dataset(
        data_path,
        settings.dataset_path,
        synthetic_rows=settings.synthetic_rows,
        seed=settings.seed,
        say=progress,
    )
    split = temporal_split(data)
    progress(f"temporal split: {split.describe()}")
    rate = settings.production_fraud_rate
    w_val = negative_weight(split.validation.y, rate)

    progress("level (a): the classifier grid on validation AUPRC, early stopping")
    clf = train_classifier(
        split.train, split.validation, seed=settings.seed, w_neg_validation=w_val, progress=progress
    )
    recipe = Recipe.chosen(clf, split.train.n_rows)
    progress(
        f"  chosen {recipe.params}, {recipe.trees} trees for {recipe.rows:,} rows "
        "(later fits scale the trees with their rows)"
    )

    progress("level (b): refit on train + validation, policy from its out-of-time folds")
    before_test = data.take(data.time < split.cut_test)
    level_b = _refit(settings, before_test, recipe, lambda *_: "level-b", progress)
    iso_test = fit_isolation_forest_scores(before_test.X, split.test.X, seed=settings.seed)
    test = _test_report(settings, split, level_b, iso_test)

    progress("level (c): refit on every row, the shipped model and policy")

    def shipped_version(booster: xgb.Booster, detector: RobustMahalanobis) -> str:
        return model_version(classifier_bytes(booster), _anomaly_blob(detector))

    level_c = _refit(settings, data, recipe, shipped_version, progress)
    policy = level_c.policy
    version = policy.model_version
    blob = classifier_bytes(level_c.booster)
    progress(
        f"policy {policy.version}: decline >= {policy.decline_threshold:.4f}, "
        f"review >= {policy.review_threshold:.4f} (calibrated), "
        f"anomaly review >= {policy.anomaly_review_threshold}"
    )
    metrics: dict[str, Any] = {
        "model_version": version,
        "split": split.describe(),
        "production_fraud_rate": rate,
        "classifier": {
            "params": {k: v for k, v in clf.params.items() if k != "nthread"},
            "trees": level_c.trees,
            "validation_auprc": clf.validation_auprc,
            "recipe": recipe.to_dict(),
        },
        "protocol": {
            "a": {
                "rows": split.train.n_rows,
                "trees": recipe.trees,
                "validation_auprc": clf.validation_auprc,
            },
            **{
                name: {
                    "rows": level.rows,
                    "trees": level.trees,
                    "out_of_time": level.out_of_time.describe(rate),
                }
                for name, level in (("b", level_b), ("c", level_c))
            },
        },
        "test": test,
    }
    manifest = {
        "created_at": datetime.now(UTC).isoformat(),
        "data": {
            "source": data.source,
            "rows": data.n_rows,
            "frauds": data.n_frauds,
            "sha256": sha256_file(Path(data.source)) if Path(data.source).is_file() else None,
        },
        "features": list(ULB_COLUMNS),
        "classifier": metrics["classifier"],
        "libraries": library_versions(),
    }
    path = write_bundle(
        out_dir,
        version=version,
        classifier=blob,
        anomaly=AnomalyArtifact.ulb(level_c.detector),
        policy=policy,
        metrics=metrics,
        manifest=manifest,
        model_card=_model_card(version, data, split, metrics, policy),
    )
    seconds = time.perf_counter() - started
    cal = test["calibration"]
    progress(
        f"test AUPRC (level b): classifier {test['classifier']['auprc']:.4f} "
        f"(as sampled {test['classifier']['auprc_unweighted']:.4f}); "
        f"anomaly {test['anomaly']['auprc']:.4f} vs IsolationForest "
        f"{test['isolation_forest']['auprc']:.4f}; Brier raw {cal['brier_raw']:.6f} -> "
        f"calibrated {cal['brier_calibrated']:.6f}"
    )
    if test["anomaly"]["auprc"] < test["isolation_forest"]["auprc"]:
        progress(
            "warning: on this data the anomaly detector scores below IsolationForest; "
            "see docs/MODELS.md (expected on synthetic data, not on the real file)"
        )
    progress(f"wrote {path} in {seconds:.1f} s")
    return TrainingResult(version, path, metrics, seconds)
