"""Which feature families the card classifier leans on: TreeSHAP contributions from
xgboost's own `pred_contribs`, mean |contribution| per feature, summed per family."""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from fraudit.models.cards.table import CardTable, family_of


def family_contributions(booster: xgb.Booster, table: CardTable) -> dict[str, float]:
    """Mean absolute TreeSHAP contribution (log-odds) per feature family over the rows."""
    matrix = xgb.DMatrix(table.X, feature_names=list(table.names), missing=np.nan)
    contributions = booster.predict(matrix, pred_contribs=True)[:, :-1]  # last: the bias
    per_feature = np.abs(contributions).mean(axis=0)
    out: dict[str, float] = {}
    for name, value in zip(table.names, per_feature, strict=True):
        out[family_of(name)] = out.get(family_of(name), 0.0) + float(value)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
