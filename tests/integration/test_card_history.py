"""A simulated card history (`fraudit generate-cards`) through the backfill and into the
card family's training table. Not in the Glue run: the simulator needs numpy, pandas and
scipy, which the Glue test environment leaves out; the backfill itself is tested on Glue's
pyspark in test_feature_backfill.py."""

from __future__ import annotations

import numpy as np
import pytest

from fraudit.features.history import CardTransaction
from fraudit.features.reference import compute
from tests.support.feature_agreement import disagreements

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("suffix", [".parquet", ".csv.gz"])
def test_a_simulated_history_backfills_as_the_reference_computes_it(spark, tmp_path, suffix):
    """`fraudit generate-cards` writes a history file the backfill reads as it is, in its
    arrival order; the labels join back on transaction_id."""
    from datetime import date

    import pandas as pd

    from fraudit.cli import main
    from fraudit.features.history_files import backfill_file

    source = tmp_path / f"cards{suffix}"
    args = ["--transactions", "4000", "--days", "30", "--seed", "2", "--out", str(source)]
    assert main(["generate-cards", *args]) == 0
    frame = pd.read_parquet(source) if suffix == ".parquet" else pd.read_csv(source)
    history = [
        CardTransaction(
            transaction_id=r.transaction_id,
            card=r.card,
            event_time=float(r.event_time),
            arrival=int(r.arrival),
            amount=float(r.amount),
            merchant=r.merchant,
            category=r.category,
            merchant_lat=float(r.merchant_lat),
            merchant_lon=float(r.merchant_lon),
            home_lat=float(r.home_lat),
            home_lon=float(r.home_lon),
            city_pop=int(r.city_pop),
            birth_date=date.fromisoformat(str(r.birth_date)),
            device=None if pd.isna(r.device) else r.device,
            ip=None if pd.isna(r.ip) else r.ip,
        )
        for r in frame.itertuples()
    ]
    assert backfill_file(spark, source, tmp_path / "features") == 4_000
    features = spark.read.parquet(str(tmp_path / "features"))
    got = {r["transaction_id"]: r.asDict() for r in features.collect()}
    assert disagreements(compute(history), got) == []
    labels = features.toPandas().merge(frame[["transaction_id", "is_fraud"]], on="transaction_id")
    assert len(labels) == 4_000
    assert labels.is_fraud.sum() == frame.is_fraud.sum() > 0
    # The card family's training table reads the same pair of files.
    from fraudit.models.cards.table import load_card_table

    table = load_card_table(source, tmp_path / "features")
    assert table.n_rows == 4_000
    assert int(table.y.sum()) == int(frame.is_fraud.sum())
    assert (np.diff(table.event_time) < 0).any()  # arrival order, not event-time order
