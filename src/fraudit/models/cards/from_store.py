"""`fraudit train --dataset cards --from-store --as-of DATE`: the card family trained on the
team's own decisions: each stored card event's feature snapshot (the vector the API scored,
so training sees exactly what serving saw), labelled by the labels reported by the as-of date
(fraudit.labels: the label that counts, and when a fraud first became known, which the card
family's label-delay protocol needs). The new model is written beside the live one, never
over it, and both are scored on the same later period before anyone ships it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from fraudit.errors import DatasetError
from fraudit.features.definitions import FEATURE_NAMES, feature_set_version
from fraudit.labels.contract import FRAUD
from fraudit.labels.queries import LABELLED_SNAPSHOTS
from fraudit.models.cards.table import CardTable
from fraudit.schema_versions import CARD_SCHEMA_VERSION
from fraudit.settings import Settings


def store_table(conn: Any, start: datetime, end: datetime, as_of: datetime) -> CardTable:
    """The stored card events from `start` to `end` as a training table, labelled as of
    `as_of` (an event without a fraud label counts as genuine)."""
    params = {
        "as_of": as_of,
        "start": start,
        "end": end,
        "schema": CARD_SCHEMA_VERSION,
        "features": feature_set_version(),
    }
    rows = conn.execute(LABELLED_SNAPSHOTS, params).fetchall()
    if not rows:
        raise DatasetError(
            f"no stored card event with feature set {feature_set_version()} from "
            f"{start.isoformat()} to {end.isoformat()}"
        )
    X = np.full((len(rows), len(FEATURE_NAMES)), np.nan)
    for i, (_, features, *_rest) in enumerate(rows):
        snapshot = json.loads(features)
        X[i] = [np.nan if snapshot.get(n) is None else snapshot[n] for n in FEATURE_NAMES]
    y = np.array([label == FRAUD for _, _, _, label, _ in rows], dtype=np.int8)
    known = np.array([np.nan if k is None else k for *_, k in rows], dtype=np.float64)
    return CardTable(
        X=X,
        names=FEATURE_NAMES,
        y=y,
        event_time=np.array([r[0] for r in rows], dtype=np.float64),
        chargeback_time=np.where(y == 1, known, np.nan),
        card=np.array([r[2] for r in rows], dtype=object),
        scenario=np.where(y == 1, "labelled fraud", "genuine").astype(object),
        gender=np.full(len(rows), None, dtype=object),
    )


@dataclass(frozen=True)
class StoreTraining:
    version: str
    path: Path
    comparison: dict[str, Any]


def train_from_store(
    conn: Any,
    settings: Settings,
    *,
    start: datetime,
    as_of: datetime,
    compare_until: datetime | None,
    out_dir: Path,
    progress: Callable[[str], None],
) -> StoreTraining:
    """Train on the stored events before `as_of` with the labels reported by then; then
    score the new and the live model on the events from `as_of` to `compare_until`, labelled
    as of `compare_until`."""
    from fraudit.errors import ArtifactError
    from fraudit.models.cards.bundle import load_card_bundle
    from fraudit.models.cards.pipeline import train_card_table
    from fraudit.models.cards.stored_evaluation import evaluate_stored_cards

    progress(f"reading stored card events before {as_of.isoformat()}, labels as of then")
    table = store_table(conn, start, as_of, as_of)
    data = {
        "source": "fraud_predictions",
        "period_start": start.isoformat(),
        "as_of": as_of.isoformat(),
        "feature_set_version": feature_set_version(),
    }
    result = train_card_table(
        settings, table, data, f"stored decisions to {as_of:%Y-%m-%d}", out_dir=out_dir,
        progress=progress,
    )  # fmt: skip
    comparison: dict[str, Any] = {}
    if compare_until is not None:
        later = store_table(conn, as_of, compare_until, compare_until)
        progress(
            f"scoring both models on {later.n_rows:,} later events ({int(later.y.sum()):,} "
            f"frauds known by {compare_until.isoformat()})"
        )
        comparison["new"] = evaluate_stored_cards(load_card_bundle(out_dir, result.version), later)
        try:
            live = load_card_bundle(Path(settings.model_dir))
        except ArtifactError as exc:
            progress(f"no live card model to compare with: {exc}")
        else:
            comparison["live"] = evaluate_stored_cards(live, later)
    return StoreTraining(result.version, result.path, comparison)
