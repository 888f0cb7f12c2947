"""How a card model's scores read to a fraud team, on a test slice: AUPRC, recall when an
analyst team reviews a fixed share of transactions, card precision at 100 per day (the Fraud
Detection Handbook's), and recall per fraud scenario at that budget. The simulated slice is
at the production fraud rate, so nothing is reweighted."""

from __future__ import annotations

from typing import Any

import numpy as np

from fraudit.decisions import DECISIONS
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
# The Handbook's simulated portfolio has 5,000 cards, so its 100 a day are 2% of them. A
# portfolio of a few hundred cards has fewer defrauded cards a day than 100 can hold: the
# figure sits at a perfect ranking's whatever the model does. The same share of *this* portfolio's
# cards is the comparable figure at small scale.
CARD_SHARE_PER_DAY = 0.02
# Card precision at each of these k: where a ranking can differ from a perfect one.
K_CURVE = (1, 2, 5, 10, 20, 50, 100)


def card_report(
    test: CardTable, scores: np.ndarray, *, budget: float = REVIEW_BUDGET, k: int = CARDS_PER_DAY
) -> dict[str, Any]:
    scores = np.asarray(scores, dtype=np.float64)
    day = np.floor(test.event_time / DAY).astype(np.int64)
    at_k: dict[int, tuple[float, float, int]] = {}

    def precision_at(k_cards: int) -> tuple[float, float, int]:
        """The ranking's card precision at k, a perfect ranking's, and the days counted.
        A perfect ranking's is a ceiling only for k at or above the day's defrauded cards:
        below, blocking a card found today changes tomorrow's candidates, and another
        choice can score more."""
        if k_cards not in at_k:
            ours, per_day = card_precision_at_k(day, test.card, test.y, scores, k_cards)
            perfect, _ = card_precision_at_k(
                day, test.card, test.y, test.y.astype(np.float64), k_cards
            )
            at_k[k_cards] = (ours, perfect, len(per_day))
        return at_k[k_cards]

    precision, perfect, days = precision_at(k)
    k_share = max(1, round(CARD_SHARE_PER_DAY * len(set(test.card.tolist()))))
    at_share, share_perfect, _ = precision_at(k_share)
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
    curve = [
        {"k": k_curve, "precision": precision_at(k_curve)[0], "perfect": precision_at(k_curve)[1]}
        for k_curve in K_CURVE
    ]
    return {
        "rows": test.n_rows,
        "frauds": int(test.y.sum()),
        "days": days,
        "auprc": average_precision(test.y, scores),
        "roc_auc": roc_auc(test.y, scores),
        "review_budget": budget,
        "recall_at_budget": recall_at_review_budget(test.y, scores, budget),
        f"card_precision_at_{k}": precision,
        f"card_precision_at_{k}_perfect": perfect,
        "cards_per_day_at_share": k_share,
        "card_precision_at_share": at_share,
        "card_precision_at_share_perfect": share_perfect,
        "card_precision_curve": curve,
        "by_scenario": by_scenario,
    }


def decision_mix(test: CardTable, decisions: np.ndarray) -> dict[str, dict[str, float]]:
    """Per scenario (genuine included): its rows and the share of each decision."""
    mix: dict[str, dict[str, float]] = {}
    for scenario in sorted(set(test.scenario.tolist())):
        rows = test.scenario == scenario
        mix[scenario] = {"rows": int(rows.sum())} | {
            name: float((decisions[rows] == name).sum() / rows.sum()) for name in DECISIONS
        }
    return mix
