"""The card family's anomaly detector, fitted on genuine history only. It asks three
questions of a transaction and adds up how surprising each answer is among genuine
transactions (histogram-based outlier scores, HBOS: Goldstein and Dengel, 2012):

- **what**: is the amount usual *for its category*? (-log of the share of genuine
  transactions of that category in the amount's histogram bin: both tails count, since a
  tiny fuel purchase is as odd as a huge one);
- **when**: is the hour usual? (-log of the hour's share among genuine transactions);
- **how fast**: is the card's last hour usual? (the mean, over the card's 10-minute and
  1-hour counts, sums, means and maxima, of -log of the share of genuine transactions at or
  above the value: only more and bigger is suspicious).

Each question weighs the same; a mean within "how fast" keeps its eight correlated
features from outvoting the other two. The questions and their sides are fixed before any
label is seen, and no label enters the fit. The design was chosen against summing every
feature's surprise on the validation period of one simulated year (seed 5, not one of the
benchmark's seeds): docs/MODELS.md gives both.

Its blind spots: a fraud at a usual amount, at a usual hour, in no burst (a takeover's
single purchase) looks genuine; and it knows nothing of devices, merchants or distance.
"""

from __future__ import annotations

import numpy as np

from fraudit.models.sagemaker_code.card_anomaly_inference import (
    CardOutlier,
    FeatureSurprise,
    Side,
)

GRID = 1_001  # quantiles kept for an upper tail: shares resolve to 0.1%
BINS = 20
SMOOTHING = 1.0


def _fit_feature(column: np.ndarray, side: Side, bins: int) -> FeatureSurprise:
    present = column[~np.isnan(column)]
    n = len(column)
    missing = -np.log((n - len(present) + SMOOTHING) / (n + SMOOTHING))
    if not len(present):
        present = np.zeros(1)
    if side in (Side.HIGH, Side.LOW):
        points = np.quantile(present, np.linspace(0, 1, GRID))
        return FeatureSurprise(side, points, np.zeros(0), float(missing))
    if side is Side.CODE:
        codes, counts = np.unique(present, return_counts=True)
        seen = np.append(counts, 0) + SMOOTHING  # the last: a code never seen
        return FeatureSurprise(side, codes, -np.log(seen / seen.sum()), float(missing))
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
    if len(edges) == 1:  # one value seen: one inner bin [v, v]
        edges = np.repeat(edges, 2)
    index = np.searchsorted(edges, present, side="right")
    index = np.where(present == edges[-1], len(edges) - 1, index)
    counts = np.bincount(index, minlength=len(edges) + 1).astype(np.float64)
    share = (counts + SMOOTHING) / (len(present) + SMOOTHING * len(counts))
    return FeatureSurprise(side, edges, -np.log(share), float(missing))


RECENT_WINDOWS = ("_10m", "_1h")


def recent_card_features(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for n in names if n.startswith("card_") and n.endswith(RECENT_WINDOWS))


def fit_card_outlier(
    X_genuine: np.ndarray, names: tuple[str, ...], bins: int = BINS
) -> CardOutlier:
    X = np.asarray(X_genuine, dtype=np.float64)
    recent = recent_card_features(names)
    missing = [n for n in ("log_amount", "category", "hour") if n not in names]
    if missing or not recent:
        absent = ", ".join(missing) or "the card's 10-minute and 1-hour windows"
        raise ValueError(
            f"the detector needs log_amount, category, hour and the card's recent windows; "
            f"missing: {absent}"
        )
    if len(X) < 10 * bins:
        raise ValueError(f"{len(X)} genuine rows: too few to fit")
    amount, category = X[:, names.index("log_amount")], X[:, names.index("category")]
    by_category = {
        float(code): _fit_feature(amount[category == code], Side.BINS, bins)
        for code in np.unique(category[~np.isnan(category)])
    }
    return CardOutlier(
        names=names,
        amount_by_category=by_category,
        amount_any=_fit_feature(amount, Side.BINS, bins),
        hour=_fit_feature(X[:, names.index("hour")], Side.CODE, bins),
        recent=tuple(
            (names.index(n), _fit_feature(X[:, names.index(n)], Side.HIGH, bins)) for n in recent
        ),
    )
