"""The card family's pure parts behind training and serving: the "as of" view of the
history, the rolling-origin folds with the label delay, the detector's JSON and container
hooks, and card precision at a share of the portfolio."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fraudit.features.definitions import DAY
from fraudit.models.cards.anomaly import fit_card_outlier
from fraudit.models.cards.report import card_report
from fraudit.models.cards.split import as_of, card_folds
from fraudit.models.cards.table import CardTable
from fraudit.models.sagemaker_code import card_anomaly_inference as inference
from fraudit.models.sagemaker_code import csv_rows

pytestmark = pytest.mark.unit


def _history(n_days: int = 300, per_day: int = 30) -> CardTable:
    rng = np.random.default_rng(4)
    n = n_days * per_day
    time = np.sort(rng.uniform(0, n_days * DAY, n))
    y = (rng.random(n) < 0.03).astype(np.int8)
    return CardTable(
        X=rng.normal(size=(n, 2)),
        names=("log_amount", "hour"),
        y=y,
        event_time=time,
        chargeback_time=np.where(y == 1, time + rng.uniform(1, 60, n) * DAY, np.nan),
        card=np.array([f"c{i % 40}" for i in range(n)], dtype=object),
        scenario=np.where(y == 1, "compromised_card", "genuine").astype(object),
        gender=np.array(["M"] * n, dtype=object),
    )


def test_as_of_a_time_trains_a_gap_before_it_with_the_labels_known_then():
    table = _history()
    at = 200 * DAY
    rows, unknown = as_of(table, at, gap_days=35)
    assert rows.event_time.max() < at - 35 * DAY
    assert rows.n_rows == int((table.event_time < at - 35 * DAY).sum())
    truly = table.take(table.event_time < at - 35 * DAY)
    known = truly.y.astype(bool) & (truly.chargeback_time <= at)
    assert rows.y.tolist() == known.astype(np.int8).tolist()
    assert unknown == int(truly.y.sum() - known.sum()) > 0  # late chargebacks: genuine then


def test_each_fold_trains_as_of_its_own_start_and_the_periods_tile_the_later_half():
    table = _history()
    folds = card_folds(table, 3, gap_days=35)
    assert [f.number for f in folds] == [1, 2, 3]
    starts = [f.test.event_time.min() for f in folds]
    assert starts[0] >= np.quantile(table.event_time, 0.5)
    assert sum(f.test.n_rows for f in folds) == int(
        (table.event_time >= np.quantile(table.event_time, 0.5)).sum()
    )
    for fold, start in zip(folds, starts, strict=True):
        assert fold.train.event_time.max() < start - 35 * DAY
        charged = fold.train.chargeback_time[fold.train.y == 1]
        assert (charged <= start).all()
    # The test periods keep the caller's labels (here: every fraud).
    assert sum(int(f.test.y.sum()) for f in folds) == int(
        table.y[table.event_time >= starts[0]].sum()
    )
    with pytest.raises(ValueError, match="too few for 40 folds"):
        card_folds(table, 40)


def _detector() -> inference.CardOutlier:
    names = ("log_amount", "category", "hour", "card_count_1h", "card_amount_sum_10m", "x")
    rng = np.random.default_rng(1)
    n = 5_000
    genuine = np.column_stack(
        [
            rng.normal(3, 1, n),
            rng.integers(0, 3, n),
            rng.integers(7, 22, n),
            rng.integers(0, 4, n),
            rng.uniform(0, 50, n),
            rng.normal(size=n),
        ]
    ).astype(float)
    genuine[rng.random(n) < 0.1, 3] = np.nan
    return fit_card_outlier(genuine, names)


def test_the_detector_survives_its_json_and_the_container_hooks_score_as_it_does():
    detector = _detector()
    rows = np.array([[3.0, 1.0, 12.0, 1.0, 10.0, 0.0], [9.0, 7.0, 3.0, np.nan, 400.0, np.nan]])
    document = json.loads(json.dumps(detector.to_dict()))  # through text, as stored
    again = inference.CardOutlier.from_dict(document)
    assert again.score(rows).tolist() == detector.score(rows).tolist()
    body = "3.0,1.0,12.0,1.0,10.0,0.0\n9.0,7.0,3.0,,400.0,\n"  # empty field: missing
    answer, media = inference.transform_fn(again, body.encode(), "text/csv", "")
    assert media == "application/json"
    assert [s["score"] for s in json.loads(answer)["scores"]] == detector.score(rows).tolist()
    # Asked for explanations: the three questions' surprises, adding up to each score.
    answer, media = inference.transform_fn(again, body, "text/csv", inference.EXPLAIN_MEDIA_TYPE)
    assert media == inference.EXPLAIN_MEDIA_TYPE
    for item, score in zip(json.loads(answer)["explanations"], detector.score(rows), strict=True):
        assert set(item["terms"]) == set(inference.QUESTIONS)
        assert sum(item["terms"].values()) == pytest.approx(score)
        assert item["score"] == pytest.approx(score)
    with pytest.raises(ValueError, match="unsupported card anomaly model format"):
        inference.CardOutlier.from_dict({**document, "format": "other/1"})


def _surprise_by_definition(feature: inference.FeatureSurprise, v: float) -> float:
    if np.isnan(v):
        return feature.missing
    beyond = feature.points >= v if feature.side is inference.Side.HIGH else feature.points <= v
    return float(-np.log(max(int(beyond.sum()), 1) / (len(feature.points) + 1)))


def test_each_question_scores_by_its_definition_row_by_row_and_in_a_batch():
    """The per-feature surprise, computed here from its definition one value at a time
    (the share of genuine quantiles at or beyond x, at least one grid step; a missing value
    its own surprise), equals the detector's vectorised lookup, on quantile ties, beyond the
    ends and for missing values, whether scored alone or in a batch."""
    detector = _detector()
    rng = np.random.default_rng(7)
    for _, feature in detector.recent:
        points = feature.points
        x = np.concatenate(
            [rng.choice(points, 50), rng.uniform(points[0] - 5, points[-1] + 5, 200), [np.nan]]
        )
        assert feature.side in (inference.Side.HIGH, inference.Side.LOW)
        expected = [_surprise_by_definition(feature, v) for v in x]
        assert np.allclose(feature.score(x), expected, rtol=0, atol=1e-12)
        assert [feature.score(x[i : i + 1])[0] for i in range(len(x))] == feature.score(x).tolist()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("1,2,3", "row 1: 3 fields, expected 6"),
        ("1,2,3,4,5,6\n1,2,x,4,5,6", "row 2: a field is not a number"),
        ("1,2,3,4,5,inf", "row 1: infinite value"),
        ("\n\n", "no rows"),
    ],
)
def test_card_rows_are_refused_naming_the_row(body, message):
    with pytest.raises(ValueError, match=message):
        csv_rows.parse_rows(body, 6)


def test_card_precision_at_a_share_of_the_cards_on_a_hand_computed_day():
    # One day, 100 cards (k at 2% = 2), cards c0 and c1 defrauded; the ranking puts c0 first,
    # a genuine card second, c1 third: precision at 2 is 1/2, a perfect ranking's 2/2.
    n = 100
    y = np.zeros(n, dtype=np.int8)
    y[[0, 1]] = 1
    scores = np.linspace(0.5, 0.0, n)
    scores[0], scores[50], scores[1] = 0.99, 0.98, 0.97
    table = CardTable(
        X=np.zeros((n, 1)),
        names=("hour",),
        y=y,
        event_time=np.full(n, 10 * DAY + 5.0),
        chargeback_time=np.where(y == 1, 20 * DAY, np.nan),
        card=np.array([f"c{i}" for i in range(n)], dtype=object),
        scenario=np.where(y == 1, "compromised_card", "genuine").astype(object),
        gender=np.array(["F"] * n, dtype=object),
    )
    report = card_report(table, scores)
    assert report["cards_per_day_at_share"] == 2
    assert report["card_precision_at_share"] == pytest.approx(0.5)
    assert report["card_precision_at_share_perfect"] == pytest.approx(1.0)
    assert report["card_precision_at_100"] == pytest.approx(0.02)  # both found in 100


def test_the_containers_and_the_api_name_the_same_explain_media_type():
    from fraudit.scoring.base import EXPLAIN_MEDIA_TYPE

    assert csv_rows.EXPLAIN_MEDIA_TYPE == EXPLAIN_MEDIA_TYPE
