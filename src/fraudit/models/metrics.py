"""Model-quality metrics, with negatives reweighted to a production fraud rate.

The dev slice is ~8x richer in fraud than production (1.45% vs 0.172%), and its rate swings
between time blocks. Precision and AUPRC depend on the base rate, so they are computed with
every negative weighted by w = (pi_prod / (1 - pi_prod))^-1 * (n_pos / n_neg): the slice
then "looks like" production. Recall, ROC-AUC and FPR do not depend on the base rate.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np


def negative_weight(y: np.ndarray, production_rate: float | None) -> float:
    """Weight of each negative so that the weighted fraud rate equals `production_rate`."""
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if production_rate is None or n_pos == 0 or n_neg == 0:
        return 1.0
    return n_pos * (1.0 - production_rate) / (production_rate * n_neg)


def _curve(
    y: np.ndarray, scores: np.ndarray, w_neg: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative weighted TP and FP at each distinct threshold, scores descending."""
    order = np.argsort(-scores, kind="mergesort")
    s = scores[order]
    positive = y[order].astype(bool)
    tp = np.cumsum(positive).astype(np.float64)
    fp = np.cumsum(~positive).astype(np.float64) * w_neg
    last_of_tie = np.r_[s[1:] != s[:-1], True]  # ties share one threshold
    return tp[last_of_tie], fp[last_of_tie], s[last_of_tie]


def average_precision(y: np.ndarray, scores: np.ndarray, w_neg: float = 1.0) -> float:
    """Area under the precision-recall curve as a step sum (sklearn's definition)."""
    y = np.asarray(y)
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    tp, fp, _ = _curve(y, np.asarray(scores, dtype=np.float64), w_neg)
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Probability a random fraud outscores a random genuine row (ties count half)."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = y.sum(), (~y).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    boundaries = np.r_[0, np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1, len(values)]
    for start, stop in pairwise(boundaries):
        ranks[order[start:stop]] = (start + stop + 1) / 2.0
    return ranks


def recall_at_fpr(y: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """Highest recall reachable while the false-positive rate stays at or below `max_fpr`."""
    y = np.asarray(y)
    n_pos, n_neg = y.sum(), len(y) - y.sum()
    tp, fp, _ = _curve(y, np.asarray(scores, dtype=np.float64), 1.0)
    ok = fp / n_neg <= max_fpr
    return float(tp[ok].max() / n_pos) if ok.any() else 0.0


def at_threshold(
    y: np.ndarray, scores: np.ndarray, threshold: float, w_neg: float = 1.0
) -> dict[str, Any]:
    """Confusion matrix and the figures read off it when flagging scores >= threshold."""
    y = np.asarray(y).astype(bool)
    flagged = np.asarray(scores) >= threshold
    tp = int(np.sum(flagged & y))
    fp = int(np.sum(flagged & ~y))
    fn = int(np.sum(~flagged & y))
    tn = int(np.sum(~flagged & ~y))
    recall = tp / (tp + fn) if tp + fn else 0.0
    tnr = tn / (tn + fp) if tn + fp else 0.0
    precision_raw = tp / (tp + fp) if tp + fp else 0.0
    precision = tp / (tp + w_neg * fp) if tp + fp else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = tp + fp + fn + tn
    observed = (tp + tn) / n
    expected = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
    kappa = (observed - expected) / (1 - expected) if expected < 1 else 0.0
    return {
        "threshold": float(threshold),
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "precision": precision,
        "precision_unweighted": precision_raw,
        "recall": recall,
        "f1": f1,
        "false_positive_rate": 1 - tnr,
        "balanced_accuracy": (recall + tnr) / 2,
        "cohen_kappa": kappa,
    }


def classification_report(
    y: np.ndarray, scores: np.ndarray, threshold: float, production_rate: float | None
) -> dict[str, Any]:
    w_neg = negative_weight(y, production_rate)
    return {
        "rows": len(y),
        "frauds": int(np.sum(y)),
        "negative_weight": w_neg,
        "auprc": average_precision(y, scores, w_neg),
        "auprc_unweighted": average_precision(y, scores, 1.0),
        "roc_auc": roc_auc(y, scores),
        "recall_at_fpr_0.1%": recall_at_fpr(y, scores, 0.001),
        "recall_at_fpr_1%": recall_at_fpr(y, scores, 0.01),
        "at_threshold": at_threshold(y, scores, threshold, w_neg),
    }


def bootstrap_mean_auprc(
    y: np.ndarray, score_sets: list[np.ndarray], *, w_neg: float, n_boot: int = 500, seed: int = 0
) -> np.ndarray:
    """AUPRC averaged over `score_sets` (e.g. one per training seed), per bootstrap resample
    of the rows. Resampling is stratified by class so every resample keeps its frauds."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    out = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        out[b] = np.mean([average_precision(y[idx], s[idx], w_neg) for s in score_sets])
    return out


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def paired_outcome(mean: float, sd: float, n: int) -> int:
    """+1 or -1 when a mean paired difference over n folds lies beyond two standard errors
    of zero (a win or a loss), else 0: one fold's luck is not a win."""
    error = sd / np.sqrt(n) if n > 1 else np.inf
    if abs(mean) <= 2 * error:
        return 0
    return 1 if mean > 0 else -1


def recall_at_review_budget(y: np.ndarray, scores: np.ndarray, budget: float) -> float:
    """Share of frauds among the `budget` share of transactions with the highest scores
    (what a review team that can look at that many finds). Rows tied with the last one
    reviewed count in proportion, as a random order among them would: ties never help."""
    if not 0 < budget <= 1:
        raise ValueError("the budget is a share of transactions in (0, 1]")
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    scores = np.asarray(scores, dtype=np.float64)
    reviewed = int(np.floor(budget * len(y)))
    if reviewed == 0:
        return 0.0
    cut = np.sort(scores)[::-1][reviewed - 1]
    above = scores > cut
    tied = scores == cut
    slots = reviewed - int(above.sum())
    caught = y[above].sum() + slots * y[tied].sum() / tied.sum()
    return float(caught / n_pos)


def card_precision_at_k(
    day: np.ndarray,
    card: np.ndarray,
    y: np.ndarray,
    scores: np.ndarray,
    k: int = 100,
) -> tuple[float, list[float]]:
    """Card precision at k per day (Le Borgne et al., Fraud Detection Handbook, ch. 4):
    each day, the k cards with the highest score among their transactions of that day are
    the ones an analyst team checks; the figure is the share of them with a fraud that
    day, over k (a day with fewer than k cards to check cannot reach 1). A card found
    compromised on an earlier day is blocked and leaves the later rankings. Ties between
    cards are broken by card, in sorted order. Returns the mean over days and each day's."""
    if k < 1:
        raise ValueError("k must be at least 1")
    day, card = np.asarray(day), np.asarray(card)
    y, scores = np.asarray(y).astype(bool), np.asarray(scores, dtype=np.float64)
    blocked: set[object] = set()
    per_day = []
    for d in np.unique(day):
        today = day == d
        cards, which = np.unique(card[today], return_inverse=True)
        best = np.full(len(cards), -np.inf)
        np.maximum.at(best, which, scores[today])
        fraud = np.zeros(len(cards), dtype=bool)
        np.logical_or.at(fraud, which, y[today])
        open_cards = np.array([c not in blocked for c in cards.tolist()], dtype=bool)
        candidates = np.flatnonzero(open_cards)
        top = candidates[np.argsort(-best[candidates], kind="stable")[:k]]
        found = top[fraud[top]]
        per_day.append(len(found) / k)
        blocked.update(cards[found].tolist())
    return (float(np.mean(per_day)) if per_day else float("nan")), per_day
