"""The stored card model scored on a labelled history it never saw, as the API would score
it: the classifier's calibrated P(fraud), the anomaly detector's score, the stored policy's
decision per row. What a fraud team asks of it: how well it ranks (AUPRC), what its declines
and reviews catch and cost, and how much genuine traffic goes to review against the budget
the policy was fitted for (with a 95% interval: a small file's share is uncertain).

Figures are at the file's own fraud rate: a sample that keeps every fraud and a few genuine
rows has a precision that says nothing of production, while its review share of genuine
rows and its recall do not depend on the rate."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

from fraudit.decisions import APPROVE, DECLINE, REVIEW
from fraudit.errors import DatasetError
from fraudit.models.calibrate import calibrated
from fraudit.models.cards.bundle import CardBundle, load_card_bundle
from fraudit.models.cards.pipeline import format_card_folds
from fraudit.models.cards.protocol import out_of_time_cards
from fraudit.models.cards.report import decision_mix
from fraudit.models.cards.table import CardTable, load_card_table
from fraudit.models.classifier import Recipe, predict
from fraudit.models.layout import EVALUATION_FILE, METRICS_FILE
from fraudit.models.metrics import average_precision, roc_auc


def share(count: int, of: int) -> dict[str, float | int]:
    """count / of with its 95% Wilson interval (NaN for an empty base)."""
    if of == 0:
        return {"count": count, "of": of, "share": float("nan"), "low": float("nan"),
                "high": float("nan")}  # fmt: skip
    ci = binomtest(count, of).proportion_ci(0.95, method="wilson")
    return {"count": count, "of": of, "share": count / of, "low": ci.low, "high": ci.high}


def review_budget(bundle: CardBundle) -> float:
    """The share of genuine traffic the stored policy may send to review: its classifier's
    review band plus, when the anomaly detector decides, the detector's own share."""
    targets = bundle.policy.targets
    deciding = bundle.policy.anomaly_review_threshold is not None
    return float(targets.get("max_review_rate", 0.0)) + (
        float(targets.get("anomaly_review_rate", 0.0)) if deciding else 0.0
    )


def evaluate_stored_cards(
    bundle: CardBundle, table: CardTable, *, since: float | None = None
) -> dict[str, Any]:
    """Score every row dated at or after `since` (all rows without it; the earlier rows
    still fed the features) with the stored model and policy."""
    if table.names != bundle.names:
        raise DatasetError(
            f"the history's features are not the ones model {bundle.version} was trained on "
            f"({len(table.names)} columns against {len(bundle.names)}): backfill the history "
            "with the fraudit that trained the model"
        )
    rows = table if since is None else table.take(table.event_time >= since)
    if rows.n_rows == 0:
        raise DatasetError("no transaction to score (check --since)")
    policy = bundle.policy
    raw = predict(bundle.classifier, rows.X)
    proba = raw if policy.calibration is None else calibrated(policy.calibration, raw)
    anomaly = bundle.anomaly.score(rows.X)
    made = np.array(
        [policy.decide(float(p), float(a)) for p, a in zip(proba, anomaly, strict=True)]
    )
    fraud, genuine = rows.y == 1, rows.y == 0
    frauds, genuines = int(fraud.sum()), int(genuine.sum())
    flagged = made != APPROVE
    by_classifier = (proba >= policy.review_threshold) & (proba < policy.decline_threshold)
    threshold = policy.anomaly_review_threshold
    if threshold is None:
        threshold = policy.validation.get("anomaly_score_at_review_rate")
    # What the detector flags on its own, deciding or not: the figure that says whether it
    # could hold a budget here.
    by_detector = (
        anomaly >= threshold if threshold is not None else np.zeros(rows.n_rows, dtype=bool)
    )
    both_classes = 0 < frauds < rows.n_rows
    return {
        "model_version": bundle.version,
        "policy_version": policy.version,
        "rows": rows.n_rows,
        "frauds": frauds,
        "since": since,
        "auprc": average_precision(rows.y, proba) if both_classes else float("nan"),
        "roc_auc": roc_auc(rows.y, proba) if both_classes else float("nan"),
        "anomaly_auprc": average_precision(rows.y, anomaly) if both_classes else float("nan"),
        "review_budget": review_budget(bundle),
        "anomaly_decides": policy.anomaly_review_threshold is not None,
        # Of genuine transactions: the share each rule sends to review.
        "genuine_reviewed": share(int((made[genuine] == REVIEW).sum()), genuines),
        "genuine_declined": share(int((made[genuine] == DECLINE).sum()), genuines),
        "genuine_in_classifier_band": share(int(by_classifier[genuine].sum()), genuines),
        "genuine_over_anomaly_threshold": share(int(by_detector[genuine].sum()), genuines),
        # Of frauds: what each decision catches.
        "fraud_declined": share(int((made[fraud] == DECLINE).sum()), frauds),
        "fraud_reviewed": share(int((made[fraud] == REVIEW).sum()), frauds),
        "fraud_flagged": share(int(flagged[fraud].sum()), frauds),
        "fraud_over_anomaly_threshold": share(int(by_detector[fraud].sum()), frauds),
        "decline_precision": share(
            int((made[fraud] == DECLINE).sum()), int((made == DECLINE).sum())
        ),
        "review_precision": share(int((made[fraud] == REVIEW).sum()), int((made == REVIEW).sum())),
        "decision_mix": decision_mix(rows, made),
    }


def _pct(figure: dict[str, float | int]) -> str:
    if not figure["of"]:
        return "n/a (none)"
    return (
        f"{figure['share']:.3%} [{figure['low']:.3%}, {figure['high']:.3%}] "
        f"({figure['count']:,} of {figure['of']:,})"
    )


def format_stored_cards(report: dict[str, Any]) -> str:
    """The report as lines a fraud team reads."""
    detector = "decides" if report["anomaly_decides"] else "reports its score only"
    return "\n".join(
        [
            f"card model {report['model_version']} (policy {report['policy_version']}) on "
            f"{report['rows']:,} transactions, {report['frauds']:,} frauds "
            "(figures at the file's own fraud rate; 95% Wilson intervals)",
            f"  AUPRC {report['auprc']:.4f}, ROC-AUC {report['roc_auc']:.4f}; anomaly detector "
            f"AUPRC {report['anomaly_auprc']:.4f} ({detector})",
            f"  genuine sent to review: {_pct(report['genuine_reviewed'])}; budget "
            f"{report['review_budget']:.2%}",
            f"    in the classifier's review band: {_pct(report['genuine_in_classifier_band'])}",
            f"    over the anomaly threshold: {_pct(report['genuine_over_anomaly_threshold'])}",
            f"  genuine declined: {_pct(report['genuine_declined'])}",
            f"  frauds declined: {_pct(report['fraud_declined'])}; reviewed: "
            f"{_pct(report['fraud_reviewed'])}; over the anomaly threshold: "
            f"{_pct(report['fraud_over_anomaly_threshold'])}",
            f"  decline precision {_pct(report['decline_precision'])}; review precision "
            f"{_pct(report['review_precision'])}",
        ]
    )


def run_card_evaluation(
    model_dir: Path,
    version: str | None,
    *,
    data: Path | None,
    features: Path | None,
    since: float | None,
    folds: int,
    seed: int,
    out: Path | None,
    say: Callable[[str], None],
    show: Callable[[str], None],
) -> dict[str, Any]:
    """`fraudit evaluate --dataset cards`: the stored model's folds and test figures; with
    --data and --features, the stored model scored on that labelled history; with --folds
    too, the recipe retrained on that many rolling-origin folds of it."""
    bundle = load_card_bundle(model_dir, version)
    metrics = json.loads((bundle.path / METRICS_FILE).read_text(encoding="utf-8"))
    test = metrics["test"]["classifier"]
    say(f"card model {bundle.version}: out-of-time folds of the shipped level (c)")
    show(format_card_folds(metrics["protocol"]["c"]["out_of_time"]["folds"]))
    say(
        f"test period (level b): AUPRC {test['auprc']:.4f}, recall at budget "
        f"{test['recall_at_budget']:.3f}, card precision at 100 "
        f"{test['card_precision_at_100']:.4f} (a perfect ranking: "
        f"{test['card_precision_at_100_perfect']:.4f})"
    )
    report: dict[str, object] = {"stored_model": {"version": bundle.version, "test": test}}
    if data is not None and features is not None:
        table = load_card_table(data, features)
        scored = evaluate_stored_cards(bundle, table, since=since)
        show(format_stored_cards(scored))
        report["labelled_history"] = {"data": str(data), **scored}
        if folds:
            say(f"the recipe retrained on {folds} rolling-origin folds of {data}")
            recipe = Recipe.from_dict(metrics["classifier"]["recipe"])
            oot = out_of_time_cards(table, recipe, seed=seed, folds=folds, progress=say)
            show(format_card_folds(oot.folds))
            report["rolling_origin"] = {"data": str(data), "folds": oot.folds}
    target = out or bundle.path / EVALUATION_FILE
    target.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
    say(f"report written to {target}")
    return report
