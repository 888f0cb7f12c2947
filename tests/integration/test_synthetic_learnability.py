"""The synthetic stand-in is learnable, but not trivially: a real classifier trained on it."""

from __future__ import annotations

import pytest

from fraudit.data.synthetic import SyntheticCreditCard

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_synthetic_frauds_are_neither_trivial_nor_hopeless():
    # Real-data classifiers reach AUPRC ~0.85-0.88; a stand-in where every fraud is
    # obvious (AUPRC 1.0) would make every demo and test on it meaningless.
    import xgboost as xgb

    from fraudit.models.metrics import average_precision
    from fraudit.models.split import temporal_split

    split = temporal_split(SyntheticCreditCard().generate(200_000, seed=5))
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "nthread": 2},
        xgb.DMatrix(split.train.X, split.train.y),
        150,
    )
    auprc = average_precision(split.test.y, booster.inplace_predict(split.test.X))
    assert 0.6 < auprc < 0.97
