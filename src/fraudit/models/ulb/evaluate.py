"""`fraudit evaluate`: the stored model on the test slice, and optionally a side-by-side with
the reference recipe, each as the mean over several training seeds with a bootstrap 95%
interval (rows of the test slice resampled, stratified by class)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from fraudit.data.creditcard import Dataset
from fraudit.errors import ArtifactError
from fraudit.models import thresholds
from fraudit.models.calibrate import calibrated
from fraudit.models.classifier import (
    Recipe,
    predict,
    train_candidate,
    train_recipe,
    train_reference,
)
from fraudit.models.layout import METRICS_FILE
from fraudit.models.metrics import (
    bootstrap_mean_auprc,
    classification_report,
    interval,
    negative_weight,
    paired_outcome,
)
from fraudit.models.split import TemporalSplit, forward_folds, temporal_split
from fraudit.models.ulb.anomaly import fit_anomaly_detector, fit_isolation_forest_scores
from fraudit.models.ulb.bundle import ModelBundle

Progress = Callable[[str], None]
SUMMARY_FIGURES = ("auprc", "auprc_unweighted", "roc_auc", "recall_at_fpr_0.1%", "recall_at_fpr_1%")
THRESHOLD_FIGURES = ("precision", "recall", "f1", "balanced_accuracy", "cohen_kappa")


def _summarise(
    y: np.ndarray, runs: list[tuple[np.ndarray, float]], rate: float, n_boot: int, seed: int
) -> dict[str, Any]:
    """Mean of each figure over runs (scores, threshold) and a bootstrap CI of mean AUPRC."""
    reports = [classification_report(y, s, t, rate) for s, t in runs]
    summary: dict[str, Any] = {k: float(np.mean([r[k] for r in reports])) for k in SUMMARY_FIGURES}
    for k in THRESHOLD_FIGURES:
        summary[k] = float(np.mean([r["at_threshold"][k] for r in reports]))
    w_neg = negative_weight(y, rate)
    boots = bootstrap_mean_auprc(y, [s for s, _ in runs], w_neg=w_neg, n_boot=n_boot, seed=seed)
    summary["auprc_ci95"] = interval(boots)
    summary["per_seed_auprc"] = [r["auprc"] for r in reports]
    summary["_boot"] = boots
    return summary


def evaluate_bundle(
    bundle: ModelBundle, data: Dataset, rate: float, *, trained_on_it: bool
) -> dict[str, Any]:
    """The stored models on `data`. The shipped model is refit on every row of its training
    file, so on that file any slice is in-sample: then the honest figures are the model
    card's level (b) test figures, which are reported instead. On any other file (a later
    period) every row is scored, with the policy's calibration and thresholds."""
    if trained_on_it:
        metrics = json.loads((bundle.path / METRICS_FILE).read_text(encoding="utf-8"))
        return {
            "model_version": bundle.version,
            "policy_version": bundle.policy.version,
            "figures": "level (b) test slice from the model card: the stored model trained "
            "on every row of this file",
            "classifier": metrics["test"]["classifier"],
            "anomaly": metrics["test"]["anomaly"],
        }
    policy = bundle.policy
    raw = predict(bundle.classifier, data.X)
    proba = raw if policy.calibration is None else calibrated(policy.calibration, raw)
    anomaly = bundle.anomaly.score(data.X)
    return {
        "model_version": bundle.version,
        "policy_version": policy.version,
        "figures": f"stored model on every row of {data.source} ({data.n_rows} rows)",
        "classifier": classification_report(data.y, proba, policy.decline_threshold, rate),
        "anomaly": classification_report(
            data.y, anomaly, policy.anomaly_review_threshold or np.inf, rate
        ),
    }


def compare_with_reference(
    bundle: ModelBundle,
    data: Dataset,
    *,
    rate: float,
    decline_precision: float,
    seeds: int = 5,
    n_boot: int = 500,
    progress: Progress = print,
) -> dict[str, Any]:
    """Retrain our recipe (the bundle's chosen hyper-parameters) and the reference recipe on
    the same temporal split with `seeds` seeds each; thresholds for both are chosen the same
    way on validation. Also the anomaly detector against IsolationForest."""
    split: TemporalSplit = temporal_split(data)
    y = split.test.y
    w_val = negative_weight(split.validation.y, rate)
    chosen = bundle.manifest["classifier"]["params"]
    params = {k: chosen[k] for k in ("max_depth", "min_child_weight")}

    def threshold(proba_val: np.ndarray) -> float:
        return thresholds.decline_threshold(split.validation.y, proba_val, decline_precision, w_val)

    ours, reference, detector, forest = [], [], [], []
    for seed in range(seeds):
        progress(f"  seed {seed + 1}/{seeds}: our recipe, reference recipe, anomaly models")
        model = train_candidate(split.train, split.validation, params, seed, w_val).booster
        ours.append((predict(model, split.test.X), threshold(predict(model, split.validation.X))))
        ref = train_reference(split.train, seed)
        reference.append((predict(ref, split.test.X), threshold(predict(ref, split.validation.X))))
        detector.append(
            (fit_anomaly_detector(split.train.X, seed=seed).score(split.test.X), np.inf)
        )
        forest.append((fit_isolation_forest_scores(split.train.X, split.test.X, seed=seed), np.inf))

    result: dict[str, Any] = {}
    for name, runs in (
        ("fraudit_classifier", ours),
        ("reference_recipe", reference),
        ("fraudit_anomaly", detector),
        ("isolation_forest", forest),
    ):
        # One resampling seed for all four: the intervals and differences are paired.
        result[name] = _summarise(y, runs, rate, n_boot, seed=17)
    for a, b in (
        ("fraudit_classifier", "reference_recipe"),
        ("fraudit_anomaly", "isolation_forest"),
    ):
        diff = result[a]["_boot"] - result[b]["_boot"]
        result[f"{a}_minus_{b}"] = {
            "auprc": result[a]["auprc"] - result[b]["auprc"],
            "ci95": interval(diff),
        }
    for summary in result.values():
        summary.pop("_boot", None)
    result["seeds"] = seeds
    result["bootstrap_resamples"] = n_boot
    result["split"] = split.describe()
    return result


FOLD_FIGURES = ("auprc", "recall_at_fpr_0.1%")


def recipe_of(bundle: ModelBundle) -> Recipe:
    """The rule the bundle's classifier was made by (parameters, trees per row)."""
    try:
        return Recipe.from_dict(bundle.manifest["classifier"]["recipe"])
    except KeyError:
        raise ArtifactError(
            f"model {bundle.version} records no recipe (trained by an older fraudit): "
            "run `fraudit train` again"
        ) from None


def rolling_origin(
    data: Dataset,
    recipe: Recipe,
    *,
    folds: int,
    rate: float,
    seed: int = 0,
    progress: Progress = print,
) -> dict[str, Any]:
    """Both recipes on forward-chained folds (train on everything before a cut, score the
    next period), each trained on the same rows: ours by the shipped model's rule (its
    parameters, trees scaled by the rows), the reference as published. Per fold AUPRC
    (negatives reweighted to the production rate) and recall at 0.1% FPR, and the paired
    difference ours - reference, with mean and sd over folds."""
    rows = []
    for fold in forward_folds(data, folds):
        progress(
            f"  fold {fold.number}/{folds}: train {fold.train.n_rows} rows "
            f"({fold.train.n_frauds} frauds), test {fold.test.n_rows} ({fold.test.n_frauds})"
        )
        ours = train_recipe(fold.train, recipe, seed)
        reference = train_reference(fold.train, seed)
        row: dict[str, Any] = {
            "fold": fold.number,
            "test_rows": fold.test.n_rows,
            "test_frauds": fold.test.n_frauds,
            "fraudit_trees": recipe.trees_for(fold.train.n_rows),
        }
        for name, model in (("fraudit", ours), ("reference", reference)):
            report = classification_report(fold.test.y, predict(model, fold.test.X), np.inf, rate)
            for figure in FOLD_FIGURES:
                row[f"{name}_{figure}"] = report[figure]
        for figure in FOLD_FIGURES:
            row[f"difference_{figure}"] = row[f"fraudit_{figure}"] - row[f"reference_{figure}"]
        rows.append(row)
    summary = {
        key: {"mean": float(np.mean([r[key] for r in rows])), "sd": _sd([r[key] for r in rows])}
        for key in rows[0]
        if key.startswith(("fraudit_a", "fraudit_r", "reference_", "difference_"))
    }
    return {"folds": rows, "summary": summary, "recipe": recipe.to_dict(), "seed": seed}


def difference_verdict(result: dict[str, Any]) -> str:
    """Which recipe wins on the paired AUPRC difference: only a mean beyond two standard
    errors over the folds counts as a win."""
    diff = result["summary"]["difference_auprc"]
    n = len(result["folds"])
    outcome = paired_outcome(diff["mean"], diff["sd"], n)
    if outcome == 0:
        error = diff["sd"] / np.sqrt(n)
        return f"no clear winner (mean {diff['mean']:+.4f}, 2 standard errors {2 * error:.4f})"
    return "ours wins" if outcome > 0 else "the reference wins"


def _sd(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def format_folds(result: dict[str, Any]) -> str:
    header = (
        f"{'fold':>4} {'rows':>7} {'frauds':>6}  {'AUPRC ours':>10} {'ref':>7} {'diff':>8}"
        f"  {'R@0.1%FPR ours':>14} {'ref':>7} {'diff':>8}"
    )
    lines = ["rolling-origin folds (train on all before, test the next period)", header]
    for r in result["folds"]:
        lines.append(
            f"{r['fold']:>4} {r['test_rows']:>7} {r['test_frauds']:>6}  "
            f"{r['fraudit_auprc']:>10.4f} {r['reference_auprc']:>7.4f} "
            f"{r['difference_auprc']:>+8.4f}  {r['fraudit_recall_at_fpr_0.1%']:>14.4f} "
            f"{r['reference_recall_at_fpr_0.1%']:>7.4f} {r['difference_recall_at_fpr_0.1%']:>+8.4f}"
        )
    s = result["summary"]
    lines.append(
        "mean ± sd            "
        f"{s['fraudit_auprc']['mean']:.4f}±{s['fraudit_auprc']['sd']:.4f} "
        f"{s['reference_auprc']['mean']:.4f}±{s['reference_auprc']['sd']:.4f} "
        f"{s['difference_auprc']['mean']:+.4f}±{s['difference_auprc']['sd']:.4f}  "
        f"{s['difference_recall_at_fpr_0.1%']['mean']:+.4f}±"
        f"{s['difference_recall_at_fpr_0.1%']['sd']:.4f}"
    )
    lines.append(f"paired AUPRC difference: {difference_verdict(result)}")
    return "\n".join(lines)


def format_stored(report: dict[str, Any]) -> str:
    """One line per model of `evaluate_bundle`'s report."""
    lines = []
    for name in ("classifier", "anomaly"):
        r = report[name]
        at = r["at_threshold"]
        lines.append(
            f"{name:<10} AUPRC {r['auprc']:.4f} (as sampled {r['auprc_unweighted']:.4f}) "
            f"ROC-AUC {r['roc_auc']:.4f} recall@0.1%FPR {r['recall_at_fpr_0.1%']:.3f} "
            f"recall@1%FPR {r['recall_at_fpr_1%']:.3f} | at threshold {at['threshold']:.4g}: "
            f"precision {at['precision']:.3f} recall {at['recall']:.3f} f1 {at['f1']:.3f} "
            f"balanced acc {at['balanced_accuracy']:.3f} kappa {at['cohen_kappa']:.3f} "
            f"confusion {at['confusion_matrix']}"
        )
    return "\n".join(lines)


def format_comparison(result: dict[str, Any]) -> str:
    """A readable side-by-side table of `compare_with_reference`'s result."""
    columns = ("fraudit_classifier", "reference_recipe", "fraudit_anomaly", "isolation_forest")
    lines = [
        f"mean over {result['seeds']} seeds, test slice; AUPRC with negatives reweighted to "
        f"the production fraud rate; 95% bootstrap intervals "
        f"({result['bootstrap_resamples']} resamples)",
        f"{'figure':<22}" + "".join(f"{c:>22}" for c in columns),
    ]
    for key in (*SUMMARY_FIGURES, *THRESHOLD_FIGURES):
        cells = []
        for c in columns:
            value = result[c].get(key)
            at_threshold = key in THRESHOLD_FIGURES and c in ("fraudit_anomaly", "isolation_forest")
            cells.append(f"{'-':>22}" if at_threshold or value is None else f"{value:>22.4f}")
        lines.append(f"{key:<22}" + "".join(cells))
    lines.append(
        f"{'auprc 95% CI':<22}"
        + "".join(f"{'[{:.4f}, {:.4f}]'.format(*result[c]['auprc_ci95']):>22}" for c in columns)
    )
    for key in (
        "fraudit_classifier_minus_reference_recipe",
        "fraudit_anomaly_minus_isolation_forest",
    ):
        diff = result[key]
        lines.append(
            f"{key}: AUPRC {diff['auprc']:+.4f}, paired 95% CI "
            f"[{diff['ci95'][0]:+.4f}, {diff['ci95'][1]:+.4f}]"
        )
    return "\n".join(lines)
