"""Does the card model treat groups differently? Recall and false-positive rate by gender
and by age band, at the decline and the review thresholds. Gender is never a model input
(nor anything derived from it); age is, through `age_years`, so its bands show what the
model does with it."""

from __future__ import annotations

from typing import Any

import numpy as np

from fraudit.models.cards.table import CardTable

AGE_BANDS = ((0, 25, "under 25"), (25, 40, "25-39"), (40, 60, "40-59"), (60, 200, "60 and over"))


def groups(test: CardTable) -> dict[str, np.ndarray]:
    """Masks over the test rows, named `gender F`, `age 25-39`, ..."""
    # The store keeps no gender (it is never an input): a table from it has groups by age.
    genders = sorted(g for g in set(test.gender.tolist()) if g is not None)
    out = {f"gender {g}": test.gender == g for g in genders}
    age = test.X[:, test.names.index("age_years")]
    for low, high, name in AGE_BANDS:
        out[f"age {name}"] = (age >= low) & (age < high)
    return out


def fairness_table(
    test: CardTable, scores: np.ndarray, thresholds: dict[str, float]
) -> list[dict[str, Any]]:
    """One row per group: its rows and frauds, then recall and false-positive rate at each
    threshold (flagged: score >= threshold)."""
    y = test.y.astype(bool)
    rows = []
    for name, mask in groups(test).items():
        row: dict[str, Any] = {"group": name, "rows": int(mask.sum()), "frauds": int(y[mask].sum())}
        for label, threshold in thresholds.items():
            flagged = scores >= threshold
            frauds, genuine = mask & y, mask & ~y
            row[f"recall_{label}"] = (
                float((flagged & frauds).sum() / frauds.sum()) if frauds.any() else None
            )
            row[f"fpr_{label}"] = (
                float((flagged & genuine).sum() / genuine.sum()) if genuine.any() else None
            )
        rows.append(row)
    return rows
