"""The card family's training protocol: the ULB family's three levels, with the label delay.

A level trains "as of" a time T: on the rows dated before T minus the chargeback gap, with
the labels known at T (a fraud is known from its chargeback on; one not yet charged back is
trained on as genuine, as production would). Its policy is fitted on out-of-time predictions
of the recipe over the later half of those rows, each fold as of its own period's start. So
no label a model or a threshold uses was unknown at the time it would have been fitted.

- (a) choose: the trees early stopping finds on a validation period (`split_cards`);
- (b) report: as of the test period's start; the test period scores the refit model;
- (c) ship: as of the end of the history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from fraudit.models.cards.anomaly import fit_card_outlier
from fraudit.models.cards.report import card_report
from fraudit.models.cards.split import as_of, card_folds
from fraudit.models.cards.table import CardTable
from fraudit.models.cards.train import train_card_recipe
from fraudit.models.classifier import Recipe, predict
from fraudit.models.protocol import OutOfTime, fit_policy
from fraudit.models.sagemaker_code.card_anomaly_inference import CardOutlier
from fraudit.scoring.policy import DecisionPolicy
from fraudit.settings import Settings

# The card anomaly detector reports its score but does not send to review: on the real
# Sparkov rows its rule flagged about seven times its 0.2% share of genuine traffic
# (docs/MODELS.md, "The review band under shift"). A detector that holds its budget on
# traffic it was not fitted on may decide again.
CARD_ANOMALY_DECIDES = False
# Two folds keep `fraudit train --dataset cards` on 1M transactions within its five minutes
# (docs/MODELS.md); each fold period is still a month or more of a simulated year.
CARD_OUT_OF_TIME_FOLDS = 2
Progress = Callable[[str], None]
FOLD_FIGURES = (
    "auprc",
    "recall_at_budget",
    "card_precision_at_100",
    "card_precision_at_100_perfect",
    "cards_per_day_at_share",
    "card_precision_at_share",
    "card_precision_at_share_perfect",
)


def _period(test: CardTable) -> str:
    first, last = (
        np.datetime64(int(t), "s").astype("datetime64[D]")
        for t in (test.event_time.min(), test.event_time.max())
    )
    return f"{first} to {last}"


def out_of_time_cards(
    rows: CardTable, recipe: Recipe, *, seed: int, folds: int, progress: Progress
) -> OutOfTime:
    ys, raws, described = [], [], []
    for fold in card_folds(rows, folds):
        trees = recipe.trees_for(fold.train.n_rows)
        progress(f"    fold {fold.number}: {fold.train.n_rows:,} rows, {trees} trees")
        raw = predict(train_card_recipe(fold.train, recipe, seed), fold.test.X)
        ys.append(fold.test.y)
        raws.append(raw)
        report = card_report(fold.test, raw)
        described.append(
            {
                "fold": fold.number,
                "train_rows": fold.train.n_rows,
                "trees": trees,
                "test_period": _period(fold.test),
                "test_rows": fold.test.n_rows,
                "test_frauds": int(fold.test.y.sum()),
                **{k: report[k] for k in FOLD_FIGURES},
            }
        )
    return OutOfTime(np.concatenate(ys), np.concatenate(raws), described)


@dataclass(frozen=True)
class CardLevel:
    """One refit of the recipe as of a time: model, detector, out-of-time policy."""

    booster: xgb.Booster
    detector: CardOutlier
    policy: DecisionPolicy
    out_of_time: OutOfTime
    rows: int
    trees: int
    unknown_frauds: int

    def describe(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "trees": self.trees,
            "frauds_not_yet_charged_back": self.unknown_frauds,
            "out_of_time": self.out_of_time.describe(None),
        }


def card_level(
    settings: Settings,
    table: CardTable,
    recipe: Recipe,
    *,
    at: float,
    version: Callable[[xgb.Booster, CardOutlier], str],
    folds: int = CARD_OUT_OF_TIME_FOLDS,
    progress: Progress = lambda _: None,
) -> CardLevel:
    rows, unknown = as_of(table, at)
    progress(f"  {folds} out-of-time folds of the recipe")
    oot = out_of_time_cards(rows, recipe, seed=settings.seed, folds=folds, progress=progress)
    trees = recipe.trees_for(rows.n_rows)
    progress(f"  refit on {rows.n_rows:,} rows ({trees} trees) and the anomaly detector")
    booster = train_card_recipe(rows, recipe, settings.seed)
    genuine = rows.X[rows.y == 0]
    detector = fit_card_outlier(genuine, rows.names)
    policy = fit_policy(
        settings,
        oot,
        detector.score(genuine),
        version(booster, detector),
        reweight=False,
        anomaly_decides=CARD_ANOMALY_DECIDES,
    )
    return CardLevel(booster, detector, policy, oot, rows.n_rows, trees, unknown)
