"""The Spark backfill against the reference implementation (docs/FEATURES.md): counts and
distinct counts exact, everything else to 1e-9 relative, missing values in the same places.
The histories have event-time ties, late arrivals, shared merchants, devices and IPs, and
transactions without a device or an IP."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fraudit.features.definitions import HISTORY_CAPS, Entity
from fraudit.features.history import CardTransaction
from fraudit.features.reference import compute
from tests.support.card_histories import entity_orders, history_frame, random_history
from tests.support.feature_agreement import disagreements

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _backfill(
    spark, history: list[CardTransaction], caps=HISTORY_CAPS
) -> dict[str, dict[str, float | None]]:
    from fraudit.features.backfill import backfill

    frame = history_frame(spark, history)
    return {row["transaction_id"]: row.asDict() for row in backfill(frame, caps=caps).collect()}


def test_the_backfill_agrees_with_the_reference_on_20000_transactions(spark):
    history = random_history(20_000, seed=11)
    late = sum(
        1
        for a, b in zip(
            sorted(history, key=lambda t: t.arrival)[:-1],
            sorted(history, key=lambda t: t.arrival)[1:],
            strict=True,
        )
        if b.event_time < a.event_time
    )
    ties = len(history) - len({(t.card, t.event_time) for t in history})
    assert late > 500  # the history really is out of order...
    assert ties > 50  # ...and has same-second transactions on one card
    expected = compute(history)
    got = _backfill(spark, history)
    assert set(got) == set(expected)
    problems = disagreements(expected, got)
    assert problems == [], f"{len(problems)} disagreements, first: {problems[:5]}"
    # Not a vacuous agreement: windows hold history and missing values occur.
    counts = [f["card_count_30d"] for f in expected.values()]
    assert max(counts) > 100
    assert sum(f["device_distinct_cards_7d"] is None for f in expected.values()) > 1_000
    assert sum(f["card_seconds_since_previous"] is None for f in expected.values()) > 0


def test_past_each_entitys_cap_the_backfill_ranks_as_the_reference_does(spark):
    """Rule 8 with small caps, so that most transactions are past them: 3,000 transactions
    of 12 cards over 10 days, a fifth of them late (each late one's places taken by the
    later-dated ones received before it), with ties broken by `transaction_id|`."""
    caps = {Entity.CARD: 20, Entity.MERCHANT: 15, Entity.DEVICE: 8, Entity.IP: 8}
    history = random_history(3_000, seed=5, cards=12, days=10, late_share=0.2)
    expected = compute(history, caps=caps)
    got = _backfill(spark, history, caps)
    problems = disagreements(expected, got)
    assert problems == [], f"{len(problems)} disagreements, first: {problems[:5]}"
    # The caps did bind: the uncapped features differ for most transactions.
    uncapped = compute(history)
    differ = sum(expected[t] != uncapped[t] for t in expected)
    assert differ > 2_000
    assert max(f["card_count_30d"] for f in expected.values()) == 20


def test_each_entity_in_its_own_arrival_order_the_backfill_agrees_with_the_reference(spark):
    """Rule 1 per entity: a store that steps each entity on its own (one hash slot each)
    numbers each entity's transactions in its own order. Here merchants, devices and IPs
    each received runs of 20 transactions in a shuffled order, which no single order of the
    history explains; with small caps, so that ranks past them depend on it too."""
    caps = {Entity.CARD: 20, Entity.MERCHANT: 15, Entity.DEVICE: 8, Entity.IP: 8}
    history = entity_orders(random_history(3_000, seed=6, cards=12, days=10), seed=6)
    expected = compute(history, caps=caps)
    got = _backfill(spark, history, caps)
    problems = disagreements(expected, got)
    assert problems == [], f"{len(problems)} disagreements, first: {problems[:5]}"
    # Not vacuous: the entities' own orders change what their features see.
    in_one_order = compute([replace(tx, arrivals={}) for tx in history], caps=caps)
    differ = {
        name
        for t in expected
        for name, value in expected[t].items()
        if value != in_one_order[t][name]
    }
    assert any(n.startswith("merchant_") for n in differ)
    assert any(n.startswith("device_") for n in differ)
    assert any(n.startswith("ip_") for n in differ)
    assert not any(n.startswith("card_") for n in differ)  # the card kept `arrival`


def _write_csv(
    path, history: list[CardTransaction], *, drop: str = "arrival", bad: dict | None = None
):
    import csv
    from dataclasses import asdict

    from fraudit.features.backfill import ENTITY_ARRIVAL_COLUMNS

    # Each entity's own arrival order, where the history gives one, as its own column.
    orders = {ENTITY_ARRIVAL_COLUMNS[Entity(e)]: e for e in history[0].arrivals}
    with open(path, "w", newline="") as handle:
        names = [n for n in (*asdict(history[0]), *orders) if n not in {drop, "arrivals"}]
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for i, tx in enumerate(history):
            row = {k: ("" if v is None else v) for k, v in asdict(tx).items()}
            row.update({column: tx.arrival_in(e) for column, e in orders.items()})
            row = {k: v for k, v in row.items() if k in names}
            if bad and i == 3:
                row.update(bad)
            writer.writerow(row)


def test_a_history_file_without_arrival_is_taken_in_event_time_order(spark, tmp_path):
    from dataclasses import replace

    from fraudit.features.history_files import backfill_file

    history = random_history(2_000, seed=5)
    source = tmp_path / "history.csv"
    _write_csv(source, history)
    rows = backfill_file(spark, source, tmp_path / "features")
    assert rows == 2_000
    got = {
        r["transaction_id"]: r.asDict()
        for r in spark.read.parquet(str(tmp_path / "features")).collect()
    }
    in_time_order = sorted(history, key=lambda t: (t.event_time, t.transaction_id))
    expected = compute([replace(t, arrival=i) for i, t in enumerate(in_time_order)])
    assert disagreements(expected, got) == []
    # The file's own order differs from the arrival order the test histories carry.
    assert compute(history) != expected


def test_a_history_file_gives_each_entity_its_own_order(spark, tmp_path):
    """`card_arrival` ... `ip_arrival` columns (rule 1, each entity's own order) are read;
    a malformed one is refused, naming it."""
    from fraudit.features.history_files import HistoryError, backfill_file, read_history

    history = entity_orders(random_history(1_500, seed=7, cards=12, days=10), seed=7)
    source = tmp_path / "history.csv"
    _write_csv(source, history, drop="")
    assert backfill_file(spark, source, tmp_path / "features") == 1_500
    got = {
        r["transaction_id"]: r.asDict()
        for r in spark.read.parquet(str(tmp_path / "features")).collect()
    }
    assert disagreements(compute(history), got) == []
    in_one_order = compute([replace(tx, arrivals={}) for tx in history])
    assert disagreements(in_one_order, got) != []  # the columns were read

    _write_csv(tmp_path / "bad.csv", history[:20], drop="", bad={"device_arrival": "7.5x"})
    with pytest.raises(HistoryError, match=r"device_arrival \(1 rows\)"):
        read_history(spark, tmp_path / "bad.csv")


@pytest.mark.parametrize(
    ("bad", "drop", "message"),
    [
        ({"amount": "12,50"}, "arrival", r"amount \(1 rows\)"),
        ({"card": ""}, "arrival", r"card \(1 rows\)"),
        ({"birth_date": "23/10/1997"}, "arrival", "birth_date"),
        (None, "merchant", "no column"),
    ],
)
def test_a_bad_history_file_is_refused_naming_the_column(spark, tmp_path, bad, drop, message):
    from fraudit.features.history_files import HistoryError, read_history

    source = tmp_path / "bad.csv"
    _write_csv(source, random_history(20, seed=1), drop=drop, bad=bad)
    with pytest.raises(HistoryError, match=message):
        read_history(spark, source)
