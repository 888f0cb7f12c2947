"""Rolling-origin folds: each trains only on the past and tests one later period; the
periods tile the tail of the data with no row twice and none straddling a cut."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fraudit.data.creditcard import Dataset
from fraudit.models.split import forward_folds

pytestmark = pytest.mark.unit


def dataset(n: int = 4_000, seed: int = 0, repeats: int = 1) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 30))
    X[:, 0] = np.arange(n) // repeats  # Time, with ties when repeats > 1
    y = (rng.random(n) < 0.05).astype(np.int8)
    return Dataset(X, y, "synthetic")


@pytest.mark.parametrize("repeats", [1, 3])
def test_each_fold_trains_on_the_past_and_the_test_periods_tile_the_tail(repeats):
    data = dataset(repeats=repeats)
    folds = forward_folds(data, 4)
    assert [f.number for f in folds] == [1, 2, 3, 4]
    for fold in folds:
        assert fold.train.time.max() < fold.test.time.min()  # no shared Time across the cut
    for earlier, later in itertools.pairwise(folds):
        assert earlier.test.time.max() < later.test.time.min()
        assert later.train.n_rows == earlier.train.n_rows + earlier.test.n_rows
    tested = sum(f.test.n_rows for f in folds)
    assert folds[0].train.n_rows + tested == data.n_rows
    sizes = [f.test.n_rows for f in folds]
    assert max(sizes) - min(sizes) <= 2 * repeats + 1


def test_too_many_folds_for_the_frauds_is_refused_with_the_reason():
    data = dataset(n=400)
    with pytest.raises(ValueError, match="too few for 40 folds"):
        forward_folds(data, 40)
    with pytest.raises(ValueError, match="at least 2"):
        forward_folds(data, 1)
