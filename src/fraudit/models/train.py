"""`fraudit train`: data -> temporal split -> classifier + anomaly detector -> policy ->
test report -> versioned artifacts."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import xgboost as xgb

from fraudit.data.creditcard import Dataset
from fraudit.data.datasets import resolve_dataset
from fraudit.decisions import DECISIONS, DECLINE
from fraudit.files import sha256_file
from fraudit.models import thresholds
from fraudit.models.anomaly import fit_anomaly_detector, fit_isolation_forest_scores
from fraudit.models.artifacts import (
    SAGEMAKER_XGBOOST_CONTAINER,
    classifier_bytes,
    model_version,
    policy_version,
    write_bundle,
)
from fraudit.models.classifier import predict, train_classifier
from fraudit.models.metrics import classification_report, negative_weight
from fraudit.models.split import TemporalSplit, temporal_split
from fraudit.scoring.policy import DecisionPolicy
from fraudit.settings import Settings
from fraudit.ulb_vector import FEATURE_NAMES

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


def choose_policy(
    settings: Settings,
    validation: Dataset,
    proba: np.ndarray,
    anomaly_scores: np.ndarray,
    w_neg: float,
    version: str,
) -> DecisionPolicy:
    decline = thresholds.decline_threshold(
        validation.y, proba, settings.policy_decline_precision, w_neg
    )
    review = thresholds.review_threshold(
        validation.y,
        proba,
        settings.policy_review_recall,
        ceiling=decline,
        max_review_rate=settings.policy_max_review_rate,
    )
    anomaly = thresholds.anomaly_threshold(
        anomaly_scores[validation.y == 0], settings.policy_anomaly_review_rate
    )
    fields: dict[str, Any] = {
        "decline_threshold": decline,
        "review_threshold": review,
        "anomaly_review_threshold": anomaly,
        "targets": {
            "decline_precision": settings.policy_decline_precision,
            "review_recall": settings.policy_review_recall,
            "max_review_rate": settings.policy_max_review_rate,
            "anomaly_review_rate": settings.policy_anomaly_review_rate,
            "production_fraud_rate": settings.production_fraud_rate,
        },
    }
    return DecisionPolicy(version=policy_version(fields), model_version=version, **fields)


def _model_card(
    version: str,
    data: Dataset,
    split: TemporalSplit,
    metrics: dict[str, Any],
    policy: DecisionPolicy,
) -> str:
    clf, anom = metrics["test"]["classifier"], metrics["test"]["anomaly"]
    iso = metrics["test"]["isolation_forest"]
    at = clf["at_threshold"]
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
- Thresholds and precision use negatives reweighted to a production fraud rate of
  {policy.targets["production_fraud_rate"]:.3%}.

## Models
- Classifier: XGBoost {xgb.__version__} (`{SAGEMAKER_XGBOOST_CONTAINER}` SageMaker container),
  params {metrics["classifier"]["params"]}, {metrics["classifier"]["trees"]} trees (early stopping
  on validation AUPRC). Raw Time is excluded (feature weight 0).
- Anomaly detector: robust Mahalanobis distance (Minimum Covariance Determinant), unsupervised.

## Test-slice results
| model | AUPRC (reweighted) | AUPRC (as sampled) | ROC-AUC |
|---|---|---|---|
| classifier | {clf["auprc"]:.4f} | {clf["auprc_unweighted"]:.4f} | {clf["roc_auc"]:.4f} |
| anomaly detector | {anom["auprc"]:.4f} | {anom["auprc_unweighted"]:.4f} | {anom["roc_auc"]:.4f} |
| IsolationForest, same split | {iso["auprc"]:.4f} | {iso["auprc_unweighted"]:.4f} | \
{iso["roc_auc"]:.4f} |

At the decline threshold {policy.decline_threshold:.4f}: precision {at["precision"]:.3f}
(reweighted), recall {at["recall"]:.3f}, F1 {at["f1"]:.3f}, balanced accuracy
{at["balanced_accuracy"]:.3f}, Cohen's kappa {at["cohen_kappa"]:.3f}.

## Policy `{policy.version}`
decline if P(fraud) >= {policy.decline_threshold:.4f}; review if P(fraud) >=
{policy.review_threshold:.4f} or anomaly score >= {policy.anomaly_review_threshold}; else approve.

## Limits
The V features are PCA components of undisclosed raw data: the model cannot be explained in
business terms, and drifts when the card population or the PCA changes. Retrain on fresh data.
"""


def run_training(
    settings: Settings,
    *,
    data_path: Path | None = None,
    out_dir: Path | None = None,
    progress: Progress = print,
) -> TrainingResult:
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
    w_test = negative_weight(split.test.y, rate)

    progress("training the classifier (grid on validation AUPRC, early stopping)")
    clf = train_classifier(
        split.train, split.validation, seed=settings.seed, w_neg_validation=w_val, progress=progress
    )
    progress(
        f"  chosen {clf.params['max_depth']=} {clf.params['min_child_weight']=}, "
        f"{clf.best_iteration + 1} trees"
    )

    progress("fitting the anomaly detector (robust covariance) and IsolationForest yardstick")
    detector = fit_anomaly_detector(split.train.X, seed=settings.seed)
    iso_test = fit_isolation_forest_scores(split.train.X, split.test.X, seed=settings.seed)

    blob = classifier_bytes(clf.booster)
    anomaly_blob = repr(detector.to_dict()).encode()
    version = model_version(blob, anomaly_blob)

    val_proba = predict(clf.booster, split.validation.X)
    policy = choose_policy(
        settings, split.validation, val_proba, detector.score(split.validation.X), w_val, version
    )
    progress(
        f"policy {policy.version}: decline >= {policy.decline_threshold:.4f}, "
        f"review >= {policy.review_threshold:.4f}, "
        f"anomaly review >= {policy.anomaly_review_threshold}"
    )

    test_proba = predict(clf.booster, split.test.X)
    test_anomaly = detector.score(split.test.X)
    metrics: dict[str, Any] = {
        "model_version": version,
        "split": split.describe(),
        "production_fraud_rate": rate,
        "classifier": {
            "params": {k: v for k, v in clf.params.items() if k != "nthread"},
            "trees": clf.best_iteration + 1,
            "validation_auprc": clf.validation_auprc,
        },
        "test": {
            "classifier": classification_report(
                split.test.y, test_proba, policy.decline_threshold, rate
            ),
            "anomaly": classification_report(
                split.test.y, test_anomaly, policy.anomaly_review_threshold or np.inf, rate
            ),
            "isolation_forest": classification_report(split.test.y, iso_test, np.inf, rate),
            "decisions": decision_mix(policy, split.test.y, test_proba, test_anomaly, w_test),
        },
    }
    manifest = {
        "created_at": datetime.now(UTC).isoformat(),
        "data": {
            "source": data.source,
            "rows": data.n_rows,
            "frauds": data.n_frauds,
            "sha256": sha256_file(Path(data.source)) if Path(data.source).is_file() else None,
        },
        "features": list(FEATURE_NAMES),
        "classifier": metrics["classifier"],
        "libraries": {
            "xgboost": xgb.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    path = write_bundle(
        out_dir,
        version=version,
        classifier=blob,
        anomaly=detector,
        policy=policy,
        metrics=metrics,
        manifest=manifest,
        model_card=_model_card(version, data, split, metrics, policy),
    )
    seconds = time.perf_counter() - started
    test = metrics["test"]
    progress(
        f"test AUPRC: classifier {test['classifier']['auprc']:.4f} "
        f"(as sampled {test['classifier']['auprc_unweighted']:.4f}); "
        f"anomaly {test['anomaly']['auprc']:.4f} vs IsolationForest "
        f"{test['isolation_forest']['auprc']:.4f}"
    )
    if test["anomaly"]["auprc"] < test["isolation_forest"]["auprc"]:
        progress(
            "warning: on this data the anomaly detector scores below IsolationForest; "
            "see docs/MODELS.md (expected on synthetic data, not on the real file)"
        )
    progress(f"wrote {path} in {seconds:.1f} s")
    return TrainingResult(version, path, metrics, seconds)
