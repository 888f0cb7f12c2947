"""Labels: the contract, the files they come in, and the arrival curve (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from fraudit.labels.contract import Label, LabelRecord, LabelsRequest, label_record
from fraudit.labels.files import LabelFileRefused, read_labels
from fraudit.labels.maturity import arrival_curves

pytestmark = pytest.mark.unit

HEADER = "event_id,label,source,reported_at,occurred_at,reason_code,amount\n"


def a_label(**changes) -> Label:
    fields = {
        "event_id": "tx-1",
        "label": "fraud",
        "source": "chargeback",
        "reported_at": "2026-03-01T10:00:00Z",
        "occurred_at": "2026-02-10T09:00:00Z",
        "reason_code": "10.4",
        "amount": 12.5,
    }
    fields.update(changes)
    return Label.model_validate(fields)


def test_a_labels_id_is_what_it_says_so_a_repeat_has_the_same_id():
    assert a_label().label_id() == a_label(amount=12.50).label_id()
    assert a_label().label_id() != a_label(source="review").label_id()
    assert a_label().label_id() != a_label(reported_at="2026-03-02T10:00:00Z").label_id()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"label": "maybe"}, "label"),
        ({"source": "gut"}, "source"),
        ({"reported_at": "2026-03-01 10:00"}, "reported_at"),
        ({"amount": -1}, "amount"),
        ({"amount": False}, "amount"),
        ({"amount": "12.5"}, "amount"),
        ({"amount": float("nan")}, "amount"),
        ({"event_id": "4111 1111"}, "event_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_label_is_refused_naming_its_field(changes, field):
    with pytest.raises(ValidationError) as caught:
        a_label(**changes)
    assert field in {str(e["loc"][0]) for e in caught.value.errors()}


def test_a_genuine_label_has_no_fraud_time():
    with pytest.raises(ValidationError, match="genuine label has none"):
        a_label(label="genuine")
    assert a_label(label="genuine", occurred_at=None).occurred_at is None


def test_a_stream_record_must_carry_its_labels_digest():
    record = label_record(a_label(), datetime(2026, 3, 1, tzinfo=UTC), "api")
    assert LabelRecord.model_validate_json(record.model_dump_json()) == record
    forged = record.model_dump(mode="json") | {"label_id": "lb-" + "0" * 32}
    with pytest.raises(ValidationError, match="digest"):
        LabelRecord.model_validate(forged)


def test_a_request_holds_one_to_a_thousand_labels():
    with pytest.raises(ValidationError):
        LabelsRequest.model_validate({"labels": []})
    one = a_label().model_dump(mode="json")
    with pytest.raises(ValidationError):
        LabelsRequest.model_validate({"labels": [one] * 1001})


def test_a_csv_file_is_read_whole(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(
        HEADER
        + "tx-1,fraud,chargeback,2026-03-01T10:00:00Z,2026-02-10T09:00:00Z,10.4,12.50\n"
        + "tx-2,genuine,review,2026-03-02T10:00:00+01:00,,,\n",
        encoding="utf-8",
    )
    first, second = read_labels(path)
    assert first == a_label()
    assert second.label == "genuine"
    assert second.amount is None
    assert second.reported_at == datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_every_bad_row_is_named_by_line_and_column(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(
        HEADER
        + "tx-1,fraud,chargeback,2026-03-01T10:00:00Z,,,\n"
        + "tx-2,fraud,chargeback,yesterday,,,\n"
        + "tx-3,fraud,chargebak,2026-03-01T10:00:00Z,,,-4\n"
        + "tx-4,fraud,chargeback,2026-03-01T10:00:00Z,,,,extra\n",
        encoding="utf-8",
    )
    with pytest.raises(LabelFileRefused) as caught:
        read_labels(path)
    problems = caught.value.problems
    assert problems[0].startswith("line 3, column reported_at:")
    assert problems[1].startswith("line 4, column source:")
    assert problems[2].startswith("line 4, column amount:")
    assert problems[3] == "line 5: more cells than the header names"
    assert len(problems) == 4


def test_a_file_without_a_required_column_or_with_an_unknown_one_is_refused(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("event_id,label,reported_at,colour\ntx-1,fraud,x,red\n", encoding="utf-8")
    with pytest.raises(LabelFileRefused) as caught:
        read_labels(path)
    assert caught.value.problems == [
        "line 1: missing column 'source'",
        "line 1: unknown columns ['colour'] (expected ['event_id', 'label', 'source', "
        "'reported_at', 'occurred_at', 'reason_code', 'amount'])",
    ]


def test_a_parquet_file_names_bad_rows_by_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "labels.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": ["tx-1", "tx-2"],
                "label": ["fraud", "fraud"],
                "source": ["chargeback", "chargeback"],
                "reported_at": ["2026-03-01T10:00:00Z", "soon"],
            }
        ),
        path,
    )
    with pytest.raises(LabelFileRefused) as caught:
        read_labels(path)
    (problem,) = caught.value.problems
    assert problem.startswith("row 2, column reported_at:")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(LabelFileRefused, match="not a readable Parquet file"):
        read_labels(tmp_path / "broken.parquet")


def test_the_arrival_curve_is_the_cumulative_share_by_day():
    curves = arrival_curves(
        [("chargeback", 1, 2), ("chargeback", 3, 1), ("chargeback", 10, 1), ("review", 0, 3)]
    )
    chargebacks = curves["chargeback"]
    assert chargebacks.frauds == 4
    assert [chargebacks.share_within(d) for d in (0, 1, 2, 3, 9, 10, 99)] == [
        0,
        0.5,
        0.5,
        0.75,
        0.75,
        1.0,
        1.0,
    ]
    assert chargebacks.day_reaching(0.75) == 3
    assert chargebacks.day_reaching(0.76) == 10
    assert curves["review"].share_within(0) == 1.0
