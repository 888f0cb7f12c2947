"""The card family's metrics and its label-delay split, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from fraudit.models.metrics import card_precision_at_k, recall_at_review_budget
from fraudit.models.split import label_delay_split

pytestmark = pytest.mark.unit

NAN = float("nan")


def test_recall_at_a_review_budget():
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    assert recall_at_review_budget(y, scores, 0.3) == pytest.approx(2 / 3)  # rows 0-2
    assert recall_at_review_budget(y, scores, 0.6) == pytest.approx(1.0)
    assert recall_at_review_budget(y, scores, 0.05) == 0.0  # not one row fits


def test_rows_tied_at_the_budget_count_in_proportion():
    y = np.array([0, 1, 0, 0, 1])
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    # Two reviewed: row 0, then one of three tied rows holding one fraud: 1/3 of a fraud.
    assert recall_at_review_budget(y, scores, 0.4) == pytest.approx((1 / 3) / 2)
    with pytest.raises(ValueError, match="budget"):
        recall_at_review_budget(y, scores, 0)


def test_card_precision_at_k_per_day_blocks_cards_found_before():
    rows = [
        # day, card, fraud, score
        (0, "A", 1, 0.9),
        (0, "B", 0, 0.8),
        (0, "C", 1, 0.7),
        (0, "D", 1, 0.1),
        (1, "A", 1, 0.95),  # found on day 0: blocked, not counted again
        (1, "C", 1, 0.6),
        (1, "C", 0, 0.2),  # a card's score is its highest of the day
        (1, "B", 0, 0.5),
        (1, "E", 1, 0.4),
        (2, "E", 1, 0.3),  # one card to check, k = 2: at most 1/2
    ]
    day, card, y, score = (np.array(column) for column in zip(*rows, strict=True))
    mean, per_day = card_precision_at_k(day, card, y, score, k=2)
    # Day 0: A, B checked, A fraud -> 1/2. Day 1: C, B -> 1/2. Day 2: E -> 1/2.
    assert per_day == [0.5, 0.5, 0.5]
    assert mean == pytest.approx(0.5)
    # Without blocking, day 1 would check A and C: both fraud.
    _, unblocked = card_precision_at_k(day[4:9], card[4:9], y[4:9], score[4:9], k=2)
    assert unblocked == [1.0]


def test_card_precision_ties_are_broken_by_card_in_sorted_order():
    day = np.zeros(3, dtype=int)
    card = np.array(["z", "a", "m"])
    y = np.array([1, 0, 0])
    _, per_day = card_precision_at_k(day, card, y, np.array([0.5, 0.5, 0.5]), k=1)
    assert per_day == [0.0]  # "a" comes first


def test_the_label_delay_split_uses_only_labels_known_at_the_tests_start():
    time = np.array([0, 10, 20, 30, 40, 50])
    fraud = np.array([1, 1, 0, 1, 0, 1])
    chargeback = np.array([5, 45, NAN, 35, NAN, 55])
    split = label_delay_split(time, fraud, chargeback, test_start=40, test_end=60, gap_seconds=15)
    assert split.train.tolist() == [True, True, True, False, False, False]  # before 25
    assert split.test.tolist() == [False, False, False, False, True, True]
    # Row 1's chargeback arrives at 45, after the test starts: trained on as genuine.
    assert split.train_labels[split.train].tolist() == [1, 0, 0]
    assert split.unknown_train_frauds == 1


def test_no_training_label_was_unknown_at_the_time_on_simulated_history():
    from fraudit.data.card_simulation import CardSimulationConfig, simulate

    history = simulate(CardSimulationConfig(transactions=60_000, days=120, seed=5))
    start = float(history.event_time.min() + 90 * 86_400)
    chargeback = history.chargeback_time.astype("float64").to_numpy()
    split = label_delay_split(
        history.event_time.to_numpy(),
        history.is_fraud.to_numpy(),
        chargeback,
        test_start=start,
        test_end=start + 30 * 86_400,
        gap_seconds=35 * 86_400,
    )
    labelled = split.train & (split.train_labels == 1)
    assert labelled.sum() > 50
    assert (chargeback[labelled] <= start).all()
    assert (history.event_time.to_numpy()[split.train] < start - 35 * 86_400).all()
    # A 35-day gap leaves few training frauds unknown (delays average 15 days).
    assert split.unknown_train_frauds < 0.1 * history.is_fraud[split.train].sum()


def test_a_fraud_without_a_chargeback_is_refused():
    with pytest.raises(ValueError, match="chargeback"):
        label_delay_split(
            np.array([0.0]), np.array([1]), np.array([NAN]), test_start=1, test_end=2, gap_seconds=0
        )
