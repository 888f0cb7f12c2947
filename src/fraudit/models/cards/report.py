"""How a card model's scores read to a fraud team, on a test slice: AUPRC, recall when an
analyst team reviews a fixed share of transactions, card precision at 100 per day (the Fraud
Detection Handbook's), and recall per fraud scenario at that budget. The simulated slice is
at the production fraud rate, so nothing is reweighted."""

from __future__ import annotations

from typing import Any

import numpy as np

from fraudit.features.definitions import DAY
from fraudit.models.cards.table import CardTable
from fraudit.models.metrics import (
    average_precision,
    card_precision_at_k,
    recall_at_review_budget,
    roc_auc,
)

# The share of transactions the review team looks at: about the fraud rate (0.39%) again.
REVIEW_BUDGET = 0.005
CARDS_PER_DAY = 100


def card_report(
    test: CardTable, scores: np.ndarray, *, budget: float = REVIEW_BUDGET, k: int = CARDS_PER_DAY
) -> dict[str, Any]:
    scores = np.asarray(scores, dtype=np.float64)
    day = np.floor(test.event_time / DAY).astype(np.int64)
    precision, per_day = card_precision_at_k(day, test.card, test.y, scores, k)
    # What a perfect ranking would reach: a day with fewer than k defrauded cards caps it.
    ceiling, _ = card_precision_at_k(day, test.card, test.y, test.y.astype(np.float64), k)
    # The reviewed rows: the top of the ranking (ties in arrival order).
    reviewed = np.zeros(test.n_rows, dtype=bool)
    reviewed[np.argsort(-scores, kind="stable")[: int(np.floor(budget * test.n_rows))]] = True
    by_scenario = {}
    for scenario in sorted(set(test.scenario[test.y == 1].tolist())):
        rows = test.scenario == scenario
        by_scenario[scenario] = {
            "frauds": int(rows.sum()),
            "recall_at_budget": float((reviewed & rows).sum() / rows.sum()),
        }
    return {
        "rows": test.n_rows,
        "frauds": int(test.y.sum()),
        "days": len(per_day),
        "auprc": average_precision(test.y, scores),
        "roc_auc": roc_auc(test.y, scores),
        "review_budget": budget,
        "recall_at_budget": recall_at_review_budget(test.y, scores, budget),
        f"card_precision_at_{k}": precision,
        f"card_precision_at_{k}_ceiling": ceiling,
        "by_scenario": by_scenario,
    }
