"""How realistic is the simulator? A model trained on simulated rows with only the features
the real Sparkov rows allow (no history), scored on the later half by `unix_time` of the
committed real rows, which the simulator was never calibrated on. AUPRC with the genuine
rows reweighted to the real file's fraud rate. It measures the simulator; it is not a target
to tune it to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fraudit.data.sparkov_profile import SPARKOV_TEST_FRAUD_RATE, halves, read_rows
from fraudit.features.definitions import ROW_FEATURES
from fraudit.features.history import from_real_row
from fraudit.features.reference import row_value
from fraudit.models.cards.split import CardSplit
from fraudit.models.cards.table import CardTable
from fraudit.models.cards.train import fit_card_classifier
from fraudit.models.metrics import average_precision, negative_weight

FEATURES = ("log_amount", "category", "channel", "hour", "age_years", "distance_from_home_km",
            "city_pop_log")  # fmt: skip


def real_later_half(sample: Path) -> CardTable:
    """The later half of the real sample with its row features (FEATURES)."""
    _, later = halves(read_rows(sample))
    by_name = {f.name: f for f in ROW_FEATURES}
    values = [
        [row_value(by_name[name], from_real_row(r, i)) for name in FEATURES]
        for i, r in enumerate(later)
    ]
    X = np.array([[np.nan if v is None else v for v in row] for row in values], dtype=np.float64)
    return CardTable(
        X=X,
        names=FEATURES,
        y=np.array([r.is_fraud for r in later], dtype=np.int8),
        event_time=np.array([r.local_time for r in later]),
        chargeback_time=np.full(len(later), np.nan),
        card=np.array([r.card for r in later], dtype=object),
        scenario=np.array(["real"] * len(later), dtype=object),
        gender=np.array([r.gender for r in later], dtype=object),
    )


def sim_to_real(split: CardSplit, real: CardTable, *, seed: int) -> dict[str, Any]:
    train, validation = (part.columns(FEATURES) for part in (split.train, split.validation))
    model = fit_card_classifier(train, validation, seed=seed)
    scores = model.predict(real)
    w_neg = negative_weight(real.y, SPARKOV_TEST_FRAUD_RATE)
    return {
        "real_rows": real.n_rows,
        "real_frauds": int(real.y.sum()),
        "trees": model.trees,
        "auprc_real": average_precision(real.y, scores, w_neg),
        "auprc_simulated_test": average_precision(
            split.test.y, model.predict(split.test.columns(FEATURES))
        ),
    }
