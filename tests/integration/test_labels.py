"""Labels in PostgreSQL: imported once, all or nothing; the label that counts as of a date;
the arrival curve; and `POST /labels` -> the stream -> fraud_labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from fraudit.cli import main
from fraudit.labels import queries
from fraudit.labels.store import maturity
from fraudit.settings import get_settings
from fraudit.stream.batch import collect_for_load
from fraudit.stream.load import PostgresSink
from tests.support.stream_records import event_record, raw_frame, record

pytestmark = pytest.mark.integration

HEADER = "event_id,label,source,reported_at,occurred_at,reason_code,amount\n"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def count(url: str, table: str = "fraud_labels") -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def import_file(url, path, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()  # the command reads the database from the settings
    try:
        code = main(["labels", "import", str(path), "--as", "ops@example.com"])
    finally:
        get_settings.cache_clear()
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_import_is_stored_once_and_a_bad_file_stores_nothing(
    database, tmp_path, monkeypatch, capsys
):
    good = tmp_path / "chargebacks.csv"
    good.write_text(
        HEADER
        + "tx-1,fraud,chargeback,2026-03-01T10:00:00Z,2026-02-10T09:00:00Z,10.4,12.50\n"
        + "tx-2,fraud,early_fraud_warning,2026-02-12T10:00:00Z,,,\n"
        + "tx-2,fraud,early_fraud_warning,2026-02-12T10:00:00Z,,,\n",  # a repeated row
        encoding="utf-8",
    )
    code, out = import_file(database, good, monkeypatch, capsys)
    assert code == 0, out
    assert "2 new label(s) stored, 0 already stored" in out
    assert "2 name an event fraudit has no decision for" in out
    assert count(database) == 2
    code, out = import_file(database, good, monkeypatch, capsys)
    assert code == 0
    assert "0 new label(s) stored, 2 already stored" in out
    assert count(database) == 2

    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER
        + "tx-5,fraud,chargeback,2026-03-01T10:00:00Z,,,\n"
        + "tx-6,fraud,chargeback,2026-03-01T10:00:00Z,,,not-money\n",
        encoding="utf-8",
    )
    code, out = import_file(database, bad, monkeypatch, capsys)
    assert code == 2
    assert "line 3, column amount:" in out
    assert "nothing imported" in out
    assert count(database) == 2
    with psycopg.connect(database) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("UPDATE fraud_labels SET label = 'genuine'")


def _store_decisions(url: str, spark, times: dict[str, datetime]) -> None:
    records = [
        event_record(i, event_id=event_id, timestamp=when, scored_at=when + timedelta(seconds=1))
        for i, (event_id, when) in enumerate(times.items())
    ]
    sink = PostgresSink(url)
    try:
        assert sink.load(collect_for_load(raw_frame(spark, records))).inserted == len(times)
    finally:
        sink.close()


def test_the_label_that_counts_follows_the_precedence_and_the_as_of_date(
    database, spark, tmp_path, monkeypatch, capsys
):
    _store_decisions(database, spark, {f"ev-{i}": T0 + timedelta(hours=i) for i in range(4)})
    path = tmp_path / "labels.csv"
    path.write_text(
        HEADER
        # ev-0: an analyst said genuine, the chargeback came later and wins from then on
        + "ev-0,genuine,review,2026-01-02T00:00:00Z,,,\n"
        + "ev-0,fraud,chargeback,2026-01-20T00:00:00Z,2026-01-01T00:00:00Z,,\n"
        # ev-1: two reviews disagree: the later one counts
        + "ev-1,fraud,review,2026-01-03T00:00:00Z,,,\n"
        + "ev-1,genuine,review,2026-01-04T00:00:00Z,,,\n"
        # ev-2: a chargeback beats a later manual label
        + "ev-2,fraud,chargeback,2026-01-05T00:00:00Z,,,\n"
        + "ev-2,genuine,manual,2026-01-06T00:00:00Z,,,\n"
        # an event fraudit never saw: kept
        + "ev-x,fraud,chargeback,2026-01-05T00:00:00Z,,,\n",
        encoding="utf-8",
    )
    assert import_file(database, path, monkeypatch, capsys)[0] == 0

    def effective(as_of: datetime) -> dict[str, tuple[str, str]]:
        with psycopg.connect(database) as conn:
            rows = conn.execute(queries.EFFECTIVE_LABELS, {"as_of": as_of}).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    assert effective(datetime(2026, 1, 10, tzinfo=UTC)) == {
        "ev-0": ("genuine", "review"),
        "ev-1": ("genuine", "review"),
        "ev-2": ("fraud", "chargeback"),
        "ev-x": ("fraud", "chargeback"),
    }
    later = effective(datetime(2026, 2, 1, tzinfo=UTC))
    assert later["ev-0"] == ("fraud", "chargeback")
    assert effective(datetime(2026, 1, 3, 12, tzinfo=UTC)) == {
        "ev-0": ("genuine", "review"),
        "ev-1": ("fraud", "review"),
    }

    with psycopg.connect(database) as conn:
        found = maturity(conn, T0, T0 + timedelta(days=1), datetime(2026, 2, 1, tzinfo=UTC), 30)
    # Frauds of known events: ev-0 (chargeback 19 days after its time: day 19) and ev-2
    # (chargeback: 4 days less 2 h after its time: day 4); ev-1's fraud review at day 2.
    assert found.curves["chargeback"].counts[19] == 1
    assert found.curves["chargeback"].counts[4] == 1
    assert found.curves["chargeback"].frauds == 2
    assert found.curves["review"].frauds == 1
    assert found.curves["review"].counts[2] == 1
    assert found.curves["any"].frauds == 3
    assert found.curves["any"].share_within(4) == pytest.approx(2 / 3)
    assert found.labels_without_events == 1


def test_post_labels_needs_the_key_and_lands_in_fraud_labels_through_the_stream(
    bundle, database, spark
):
    from chalice.test import Client
    from moto import mock_aws

    from tests.support.api import JSON, kinesis_stream, make_app, read_stream

    label = {
        "event_id": "tx-from-api",
        "label": "fraud",
        "source": "early_fraud_warning",
        "reported_at": "2026-02-01T00:00:00Z",
        "occurred_at": "2026-01-30T12:00:00Z",
    }
    with mock_aws():
        kinesis = kinesis_stream()
        with Client(make_app(bundle, kinesis, api_key="s3cr3t-key")) as client:
            body = json.dumps({"labels": [label, label]})
            assert client.http.post("/labels", headers=JSON, body=body).status_code == 401
            keyed = {**JSON, "x-api-key": "s3cr3t-key"}
            bad = client.http.post(
                "/labels", headers=keyed, body=json.dumps({"labels": [{**label, "label": "x"}]})
            )
            assert bad.status_code == 400
            assert bad.json_body["details"][0]["field"] == "labels[0].label"
            answer = client.http.post("/labels", headers=keyed, body=body)
            assert answer.status_code == 202, answer.json_body
            assert answer.json_body["accepted"] == 1  # the same label twice is one label
            assert client.http.post("/labels", headers=keyed, body=body).status_code == 202
        published = read_stream(kinesis, labels=True)
        assert read_stream(kinesis) == []  # no scored event among them
    assert len(published) == 2
    assert all(r["record_type"] == "label" for r in published)
    forged = {**published[0], "label_id": "lb-" + "0" * 32}
    records = [record(json.dumps(r), i) for i, r in enumerate([*published, forged])]
    records.append(event_record(3, position=3))
    sink = PostgresSink(database)
    try:
        loaded = sink.load(collect_for_load(raw_frame(spark, records)))
        assert (loaded.inserted, loaded.labels_inserted, loaded.rejected_invalid) == (1, 1, 1)
        again = sink.load(collect_for_load(raw_frame(spark, records)))
        assert again.labels_inserted == 0
    finally:
        sink.close()
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT event_id, label, source, received_by FROM fraud_labels"
        ).fetchall()
        reason = conn.execute("SELECT reason FROM fraud_predictions_rejected").fetchone()[0]
    assert rows == [("tx-from-api", "fraud", "early_fraud_warning", "api")]
    assert reason.startswith("invalid label:")
    assert "digest" in reason


def test_label_records_on_the_stream_are_stored_once_beside_the_events(database, spark):
    """The stream job's half alone (what the Glue job runs, on pyspark 3.5 too)."""
    from fraudit.labels.contract import Label, label_record

    made = [
        label_record(
            Label(
                event_id=f"ev-{i}",
                label="genuine",
                source="review",
                reported_at=T0 + timedelta(days=i),
            ),
            T0 + timedelta(days=i, hours=1),
            "api",
        )
        for i in range(3)
    ]
    records = [record(r.model_dump_json(), i) for i, r in enumerate(made)]
    records.append(record('{"record_type": "verdict", "event_id": "ev-9"}', 3))
    records.append(event_record(4, position=4))
    sink = PostgresSink(database)
    try:
        loaded = sink.load(collect_for_load(raw_frame(spark, records)))
        assert (loaded.inserted, loaded.labels_inserted, loaded.rejected_invalid) == (1, 3, 1)
        assert sink.load(collect_for_load(raw_frame(spark, records))).labels_inserted == 0
    finally:
        sink.close()
    with psycopg.connect(database) as conn:
        ids = [r[0] for r in conn.execute("SELECT label_id FROM fraud_labels ORDER BY event_id")]
        reasons = [r[0] for r in conn.execute("SELECT reason FROM fraud_predictions_rejected")]
    assert ids == [r.label_id for r in made]
    assert reasons == ["unknown record_type verdict"]


def test_a_training_table_from_the_store_reads_the_snapshots_and_the_labels_as_of_a_date(
    database, spark
):
    """`fraudit train --from-store`'s table: the vector the API scored, the label that
    counts as of the date, and when each fraud was first reported (the label-delay
    protocol's clock)."""
    import numpy as np

    from fraudit.features.definitions import FEATURE_NAMES
    from fraudit.labels.contract import Label
    from fraudit.labels.store import store_labels
    from fraudit.models.cards.from_store import store_table
    from tests.support.stream_records import card_event_record

    records = [
        card_event_record(i, event_id=f"c-{i}", timestamp=T0 + timedelta(hours=i),
                          scored_at=T0 + timedelta(hours=i, seconds=1))
        for i in range(4)
    ]  # fmt: skip
    records.append(event_record(9, event_id="ulb-9"))  # another family's: not in the table
    sink = PostgresSink(database)
    try:
        sink.load(collect_for_load(raw_frame(spark, records)))
    finally:
        sink.close()
    reported = {
        "c-0": ("fraud", "chargeback", T0 + timedelta(days=10)),
        "c-1": ("fraud", "chargeback", T0 + timedelta(days=50)),  # after the as-of date
        "c-2": ("genuine", "review", T0 + timedelta(days=2)),
    }
    with psycopg.connect(database, autocommit=True) as conn:
        store_labels(
            conn,
            [
                Label(event_id=e, label=v, source=s, reported_at=when)
                for e, (v, s, when) in reported.items()
            ],
            "test",
        )
        as_of = T0 + timedelta(days=30)
        table = store_table(conn, T0, T0 + timedelta(days=1), as_of)
        stored = {
            row[0]: row[1]
            for row in conn.execute(
                "SELECT event_id, features FROM fraud_predictions WHERE event_id LIKE 'c-%'"
            )
        }
    assert table.n_rows == 4
    assert table.names == FEATURE_NAMES
    assert table.y.tolist() == [1, 0, 0, 0]
    assert table.chargeback_time[0] == (T0 + timedelta(days=10)).timestamp()
    assert np.isnan(table.chargeback_time[1:]).all()
    for i in range(4):
        expected = [np.nan if stored[f"c-{i}"].get(n) is None else stored[f"c-{i}"][n]
                    for n in FEATURE_NAMES]  # fmt: skip
        np.testing.assert_array_equal(table.X[i], np.array(expected, dtype=float))
    assert table.event_time[0] == T0.timestamp()
    assert table.card[0] == "card_0"
