"""The card family's anomaly detector: a histogram-based outlier score (HBOS: Goldstein and
Dengel, 2012) fitted on genuine history. Each feature's distribution over genuine
transactions is a histogram with equal-count bins; a transaction's score is the sum over
features of -log of its bin's smoothed share. A missing value has a bin of its own, and a
value beyond everything seen falls in an (empty) outer bin, so it scores as rare as can be.

Why this and not a covariance model: card features are counts, sums and gaps with heavy
tails, many missing values and integer codes; a per-feature histogram takes them as they
are, is unsupervised, and scores a row with one binary search per feature. Its blind spot
is that it reads each feature alone (no interactions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 20
SMOOTHING = 1.0  # Laplace: a bin no genuine row fell in still has a finite surprise


@dataclass(frozen=True)
class HistogramOutlier:
    edges: tuple[np.ndarray, ...]  # per feature: the bin edges (min, interior, max)
    surprise: tuple[np.ndarray, ...]  # per feature: -log share per bin; the last is "missing"

    def score(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != len(self.edges):
            raise ValueError(f"{X.shape[1]} features, the detector has {len(self.edges)}")
        total = np.zeros(len(X))
        for j, (edges, surprise) in enumerate(zip(self.edges, self.surprise, strict=True)):
            column = X[:, j]
            # Bins: 0 below the min, 1..len(edges)-1 between edges, len(edges) above the max.
            index = np.searchsorted(edges, column, side="right")
            index = np.where(column == edges[-1], len(edges) - 1, index)
            index = np.where(np.isnan(column), len(surprise) - 1, index)
            total += surprise[index]
        return total


def fit_histogram_outlier(X_genuine: np.ndarray, bins: int = BINS) -> HistogramOutlier:
    X = np.asarray(X_genuine, dtype=np.float64)
    if len(X) < bins:
        raise ValueError(f"{len(X)} genuine rows: too few for {bins} bins")
    all_edges, all_surprise = [], []
    for j in range(X.shape[1]):
        column = X[:, j]
        present = column[~np.isnan(column)]
        quantiles = np.linspace(0, 1, bins + 1)
        edges = np.unique(np.quantile(present, quantiles)) if len(present) else np.zeros(1)
        if len(edges) == 1:  # one value seen: one inner bin [v, v]
            edges = np.repeat(edges, 2)
        # Counts per bin: below, between edges, above (empty by construction), missing.
        index = np.searchsorted(edges, present, side="right")
        index = np.where(present == edges[-1], len(edges) - 1, index)
        counts = np.bincount(index, minlength=len(edges) + 1).astype(np.float64)
        counts = np.append(counts, float(np.isnan(column).sum()))
        share = (counts + SMOOTHING) / (len(column) + SMOOTHING * len(counts))
        all_edges.append(edges)
        all_surprise.append(-np.log(share))
    return HistogramOutlier(tuple(all_edges), tuple(all_surprise))
