"""Labels in PostgreSQL (migrations/008_labels.sql): stored once each, in one transaction
per import or batch, and read back as the label that counts as of a date or as the arrival
of fraud reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fraudit.labels import queries
from fraudit.labels.contract import Label
from fraudit.labels.maturity import Maturity, arrival_curves


@dataclass(frozen=True)
class LabelsStored:
    received: int  # labels given (after removing repeats within the batch)
    new: int  # stored now
    unknown_events: int  # of the new ones, those naming an event with no decision (yet)

    @property
    def already(self) -> int:
        return self.received - self.new

    def summary(self) -> str:
        text = f"{self.new} new label(s) stored, {self.already} already stored"
        if self.unknown_events:
            text += (
                f"; {self.unknown_events} name an event fraudit has no decision for "
                "(kept: the decision may not be loaded yet)"
            )
        return text


def label_row(label: Label, received_by: str) -> tuple[Any, ...]:
    values = label.model_dump()
    return (label.label_id(), *(values[c] for c in queries.LABEL_COLUMNS[1:-1]), received_by)


def store_label_rows(conn: Any, rows: Sequence[tuple[Any, ...]]) -> LabelsStored:
    """Rows of label_row into fraud_labels, within the caller's transaction."""
    conn.execute(queries.CREATE_LABEL_STAGING)
    with conn.cursor() as cur, cur.copy(queries.COPY_LABEL_STAGING) as copy:
        for row in rows:
            copy.write_row(row)
    new_ids = [r[0] for r in conn.execute(queries.INSERT_LABELS).fetchall()]
    unknown = conn.execute(queries.UNKNOWN_EVENTS, {"ids": new_ids}).fetchone()[0]
    conn.execute("TRUNCATE fraudit_label_staging")
    return LabelsStored(len({r[0] for r in rows}), len(new_ids), int(unknown))


def store_labels(conn: Any, labels: Sequence[Label], received_by: str) -> LabelsStored:
    """All the labels or none, in one transaction."""
    with conn.transaction():
        return store_label_rows(conn, [label_row(label, received_by) for label in labels])


def maturity(
    conn: Any, start: datetime, end: datetime, as_of: datetime, maturity_days: int
) -> Maturity:
    params = {"start": start, "end": end, "as_of": as_of}
    rows = conn.execute(queries.FRAUD_REPORT_DELAYS, params).fetchall()
    orphans = conn.execute(queries.LABELS_WITHOUT_EVENTS).fetchone()[0]
    return Maturity(as_of, start, end, maturity_days, arrival_curves(rows), int(orphans))
