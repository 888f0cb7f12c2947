"""The card family's table, split and report on small hand-built data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudit.errors import DatasetError
from fraudit.features.definitions import DAY, FEATURE_NAMES
from fraudit.models.cards.report import card_report
from fraudit.models.cards.split import split_cards
from fraudit.models.cards.table import ROW_ONLY, CardTable, card_table, family_of

pytestmark = pytest.mark.unit


def _frames(n: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "card": ["a", "b"] * (n // 2),
            "event_time": np.arange(n) * 100.0,
            "arrival": np.arange(n)[::-1],  # arrived in reverse order
            "is_fraud": [i == 1 for i in range(n)],
            "scenario": ["compromised_card" if i == 1 else "genuine" for i in range(n)],
            "chargeback_time": pd.array([500 if i == 1 else None for i in range(n)], "Int64"),
            "gender": ["F", "M"] * (n // 2),
        }
    )
    features = pd.DataFrame({"transaction_id": labels.transaction_id[::-1].to_numpy()})
    for j, name in enumerate(FEATURE_NAMES):
        features[name] = [float(j * 10 + int(t[1:])) for t in features.transaction_id]
    features.loc[0, FEATURE_NAMES[0]] = None  # a missing feature stays missing
    return labels, features


def test_the_table_joins_labels_and_features_in_arrival_order():
    labels, features = _frames()
    table = card_table(labels, features)
    assert table.names == FEATURE_NAMES
    assert table.card.tolist() == ["b", "a", "b", "a", "b", "a"]  # t5 arrived first
    assert table.X[:, 1].tolist() == [15.0, 14.0, 13.0, 12.0, 11.0, 10.0]
    assert np.isnan(table.X[0, 0])  # t5's first feature was missing
    assert table.y.tolist() == [0, 0, 0, 0, 1, 0]
    assert np.isnan(table.chargeback_time[0])
    assert table.chargeback_time[4] == 500


def test_a_transaction_without_features_is_refused():
    labels, features = _frames()
    with pytest.raises(DatasetError, match="1 transactions have no features"):
        card_table(labels, features.iloc[1:])
    with pytest.raises(DatasetError, match="missing columns: gender"):
        card_table(labels.drop(columns="gender"), features)


def test_gender_is_never_a_feature_and_row_only_holds_no_history():
    labels, features = _frames()
    table = card_table(labels, features)
    with pytest.raises(DatasetError, match="gender"):
        CardTable(**{**table.__dict__, "names": (*table.names[:-1], "gender")})
    assert set(ROW_ONLY) == {"hour", "weekday", "age_years", "log_amount",
                             "distance_from_home_km", "city_pop_log", "category", "channel"}  # fmt: skip
    assert family_of("device_distinct_cards_1h") == "device and IP"
    assert table.columns(ROW_ONLY).X.shape == (6, len(ROW_ONLY))


def _year(n_days: int = 200, per_day: int = 20) -> CardTable:
    rng = np.random.default_rng(0)
    n = n_days * per_day
    time = np.sort(rng.uniform(0, n_days * DAY, n))
    y = (rng.random(n) < 0.05).astype(np.int8)
    delay = rng.uniform(1, 60, n) * DAY
    return CardTable(
        X=rng.normal(size=(n, 2)),
        names=("log_amount", "hour"),
        y=y,
        event_time=time,
        chargeback_time=np.where(y == 1, time + delay, np.nan),
        card=np.array([f"c{i % 50}" for i in range(n)], dtype=object),
        scenario=np.where(y == 1, "compromised_card", "genuine").astype(object),
        gender=np.array(["F"] * n, dtype=object),
    )


def test_the_split_trains_only_on_labels_known_when_the_test_starts():
    table = _year()
    split = split_cards(table, test_days=40, gap_days=35)
    test_start = table.event_time.max() + 1 - 40 * DAY
    assert split.test.event_time.min() >= test_start
    fitted = np.concatenate([split.train.event_time, split.validation.event_time])
    assert fitted.max() < test_start - 35 * DAY
    assert split.train.event_time.max() < split.validation.event_time.min()
    for part in (split.train, split.validation):
        known = part.y == 1
        assert (part.chargeback_time[known] <= test_start).all()
    # Frauds whose chargeback came after the test's start are trained on as genuine.
    late = np.concatenate([split.train.chargeback_time, split.validation.chargeback_time])
    assert split.unknown_train_frauds == int((late > test_start).sum()) > 0


def test_the_report_reads_a_ranking_as_a_fraud_team_would():
    table = _year(n_days=10, per_day=200)
    perfect = card_report(table, table.y.astype(float), budget=0.1, k=5)
    assert perfect["auprc"] == pytest.approx(1.0)
    assert perfect["recall_at_budget"] == pytest.approx(1.0)
    assert perfect["card_precision_at_5"] == perfect["card_precision_at_5_perfect"]
    assert perfect["by_scenario"]["compromised_card"]["recall_at_budget"] == 1.0
    inverted = card_report(table, -table.y.astype(float), budget=0.1, k=5)
    assert inverted["recall_at_budget"] == 0.0
    assert inverted["card_precision_at_5"] < perfect["card_precision_at_5"]


def test_a_histogram_surprise_on_a_hand_computed_case():
    from fraudit.models.cards.anomaly import Side, _fit_feature

    surprise = _fit_feature(np.array([0.0, 1.0, 2.0, 3.0]), Side.BINS, bins=2)
    # Edges 0, 1.5, 3: bins below, [0, 1.5), [1.5, 3], above; counts 0, 2, 2, 0 smoothed
    # over 4 rows and 4 bins: 1/8, 3/8, 3/8, 1/8. Missing: never seen, (0 + 1) / (4 + 1).
    assert surprise.points.tolist() == [0.0, 1.5, 3.0]
    got = surprise.score(np.array([0.5, 3.0, 10.0, -1.0, np.nan]))
    assert got == pytest.approx(-np.log([3 / 8, 3 / 8, 1 / 8, 1 / 8, 1 / 5]))
    upper = _fit_feature(np.arange(100.0), Side.HIGH, bins=2)
    assert upper.score(np.array([0.0]))[0] == pytest.approx(-np.log(1_001 / 1_002))
    assert upper.score(np.array([500.0]))[0] == pytest.approx(np.log(1_002))  # beyond all
    codes = _fit_feature(np.array([1.0, 1.0, 1.0, 2.0]), Side.CODE, bins=2)
    # Codes 1, 2 and one never seen, smoothed: 4/7, 2/7, 1/7.
    assert codes.score(np.array([1.0, 2.0, 9.0])) == pytest.approx(-np.log([4 / 7, 2 / 7, 1 / 7]))


def test_the_card_detector_asks_what_when_and_how_fast():
    from fraudit.models.cards.anomaly import fit_card_outlier

    names = ("log_amount", "category", "hour", "card_count_1h", "card_amount_sum_10m")
    rng = np.random.default_rng(2)
    n = 20_000
    category = rng.integers(0, 2, n).astype(float)
    genuine = np.column_stack(
        [
            np.where(category == 0, rng.normal(4.0, 0.3, n), rng.normal(2.0, 0.3, n)),
            category,
            rng.choice([9.0, 12.0, 18.0], n),
            rng.integers(0, 3, n).astype(float),
            rng.uniform(0, 100, n),
        ]
    )
    detector = fit_card_outlier(genuine, names)
    usual = [4.0, 0.0, 12.0, 1.0, 20.0]

    def score(**changes: float) -> float:
        row = dict(zip(names, usual, strict=True)) | changes
        return float(detector.score(np.array([[row[n] for n in names]]))[0])

    base = score()
    assert score(log_amount=2.0) > base + 3  # usual for category 1, odd for category 0
    assert score(log_amount=2.0, category=1.0) < base + 1
    assert score(hour=3.0) > base + 3  # an hour genuine cards never used
    assert score(card_count_1h=9.0) > base + 0.5  # a burst
    assert score(card_count_1h=0.0) <= base  # a quiet card is never suspicious
    with pytest.raises(ValueError, match="missing: hour"):
        fit_card_outlier(genuine[:, [0, 1, 3, 4]], ("log_amount", "category", *names[3:]))


def test_the_fairness_table_counts_recall_and_false_positives_per_group():
    from fraudit.models.cards.fairness import fairness_table

    # Four women aged 30 (two frauds), four men aged 70 (two frauds).
    table = CardTable(
        X=np.array([[30.0]] * 4 + [[70.0]] * 4),
        names=("age_years",),
        y=np.array([1, 1, 0, 0, 1, 1, 0, 0], dtype=np.int8),
        event_time=np.zeros(8),
        chargeback_time=np.full(8, np.nan),
        card=np.array(list("abcdefgh"), dtype=object),
        scenario=np.array(["x"] * 8, dtype=object),
        gender=np.array(["F"] * 4 + ["M"] * 4, dtype=object),
    )
    scores = np.array([0.9, 0.4, 0.8, 0.1, 0.9, 0.9, 0.1, 0.1])
    rows = {r["group"]: r for r in fairness_table(table, scores, {"decline": 0.5, "review": 0.3})}
    assert rows["gender F"]["recall_decline"] == 0.5  # one of two frauds at >= 0.5
    assert rows["gender F"]["fpr_decline"] == 0.5  # one of two genuine
    assert rows["gender F"]["recall_review"] == 1.0
    assert rows["gender M"]["recall_decline"] == 1.0
    assert rows["gender M"]["fpr_review"] == 0.0
    assert rows["age 25-39"]["rows"] == 4
    assert rows["age 60 and over"]["frauds"] == 2
    assert rows["age under 25"]["recall_decline"] is None  # nobody in the band
