"""PostgreSQL sink: each write is one transaction that stages rows with COPY, inserts the
new ones (ON CONFLICT (event_id) DO NOTHING), rolls up exactly the inserted rows, keeps
conflicting duplicates and invalid records in the rejected table, and commits. A replayed
batch therefore changes nothing, and the rollups always equal a GROUP BY over the table.

The windowed risk indicators (indicators.py) are evaluated in that same transaction over
the rows it inserted, so alerts, rows and rollups always commit or roll back together.

If PostgreSQL is unreachable the write is retried with backoff (a restart is survived);
if it refuses the batch's data, rows are loaded one by one and each refused row is kept in
the rejected table with the database's reason, so one bad row cannot block the stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from fraudit.db import sql
from fraudit.db.connection import connect, retry_while_unavailable
from fraudit.db.schema import apply_schema
from fraudit.labels.contract import LabelRecord
from fraudit.labels.store import label_row, store_label_rows
from fraudit.stream import indicators
from fraudit.stream.indicators import RuleSet

log = logging.getLogger("fraudit.stream.load")


@dataclass(frozen=True)
class LoadResult:
    inserted: int
    rejected_invalid: int
    rejected_conflicts: int
    alerts_raised: int = 0  # new (rule, entity, window) alerts
    alerts_updated: int = 0  # existing alerts whose window value grew
    late_rows: int = 0  # inserted rows older than the watermark: stored, not alerted
    labels_inserted: int = 0  # labels (POST /labels) stored now; repeats are not counted

    def summary(self) -> str:
        return (
            f"{self.inserted} inserted, {self.rejected_invalid} rejected, "
            f"{self.rejected_conflicts} conflicting; alerts {self.alerts_raised} new, "
            f"{self.alerts_updated} updated; {self.late_rows} late"
            + (f"; {self.labels_inserted} labels" if self.labels_inserted else "")
        )


def _when(micros: int | None) -> datetime | None:
    return None if micros is None else datetime.fromtimestamp(micros / 1e6, UTC)


def _clean(text: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; the rejected table must still take the record.
    return None if text is None else text.replace("\x00", "\ufffd")


def prediction_tuple(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A transformed row (see transform.flatten) in PREDICTION_COLUMNS order."""
    values = dict(row)
    values["event_time"] = _when(values.pop("event_time_us"))
    values["scored_at"] = _when(values.pop("scored_at_us"))
    values["event_minute"] = _when(values.pop("event_minute_us"))
    return tuple(values[c] for c in sql.PREDICTION_COLUMNS)


def rejected_tuple(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        row["source_position"],
        _clean(row.get("event_id")),
        row["reason"],
        _clean(row.get("raw_payload")) or "",
    )


_TIMES = {
    "event_time": "event_time_us",
    "scored_at": "scored_at_us",
    "event_minute": "event_minute_us",
}


def label_rows_of(
    records: Iterable[tuple[str, str]],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Label records (source position, payload) -> (fraud_labels rows, rejected records
    for those that break the label contract)."""
    from pydantic import ValidationError

    rows: list[tuple[Any, ...]] = []
    refused: list[tuple[Any, ...]] = []
    for position, payload in records:
        try:
            record = LabelRecord.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "record"
            reason = f"invalid label: {where}: {first['msg']}"
            refused.append(
                rejected_tuple(
                    {"source_position": position, "reason": reason, "raw_payload": payload}
                )
            )
            continue
        rows.append(label_row(record.label, record.received_by))
    return rows, refused


def _loadable_columns(valid: Any) -> list[Any]:
    """The loadable rows' Arrow columns in PREDICTION_COLUMNS order, times as UTC."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return [
        pc.cast(valid[_TIMES[name]], pa.timestamp("us", tz="UTC"))
        if name in _TIMES
        else valid[name]
        for name in sql.PREDICTION_COLUMNS
    ]


def split_arrow(table: Any) -> tuple[Any, list[tuple[Any, ...]], list[tuple[str, str]]]:
    """A transformed batch as an Arrow table (see transform.flatten) -> (its loadable rows
    as an Arrow table in PREDICTION_COLUMNS order, its rejected records as tuples, its
    label records as (source position, payload))."""
    import pyarrow as pa
    import pyarrow.compute as pc

    accepted = pc.is_null(table["reject_reason"])
    loadable = pc.and_(accepted, pc.is_null(table["record_type"]))
    labelled = pc.and_(accepted, pc.is_valid(table["record_type"]))
    valid, bad = table.filter(loadable), table.filter(pc.invert(accepted))
    predictions = pa.table(_loadable_columns(valid), names=list(sql.PREDICTION_COLUMNS))
    label_rows = table.filter(labelled)
    labels = list(
        zip(
            label_rows["source_position"].to_pylist(),
            label_rows["payload"].to_pylist(),
            strict=True,
        )
    )
    invalid = [
        rejected_tuple({"source_position": p, "event_id": e, "reason": r, "raw_payload": d})
        for p, e, r, d in zip(
            bad["source_position"].to_pylist(),
            bad["event_id"].to_pylist(),
            bad["reject_reason"].to_pylist(),
            bad["payload"].to_pylist(),
            strict=True,
        )
    ]
    return predictions, invalid, labels


def _arrow_tuples(predictions: Any) -> list[tuple[Any, ...]]:
    return list(zip(*(c.to_pylist() for c in predictions.columns), strict=True))


def arrow_csv(predictions: Any) -> bytes:
    """Loadable rows (an Arrow table in PREDICTION_COLUMNS order) as COPY ... (FORMAT csv)
    input, written by Arrow's C++ CSV writer: no Python object per value. Every string is
    quoted, so an empty string stays '' and only a missing value reads as NULL; times are
    ISO-8601 in UTC; floats are written in their shortest exact form, as Python does."""
    import io

    import pyarrow.csv as pa_csv

    out = io.BytesIO()
    pa_csv.write_csv(
        predictions,
        out,
        pa_csv.WriteOptions(include_header=False, quoting_style="needed", batch_size=4096),
    )
    return out.getvalue()


class CopyBatch:
    """One batch's loadable rows and rejected records, as the sink copies them: made from a
    transformed Arrow table (pyspark 4), which is copied as CSV (written once however often
    it is copied) and turned into tuples only if the batch must be loaded row by row, or
    from transformed rows as dicts (pyspark 3.5, Glue 5)."""

    def __init__(
        self,
        predictions: list[tuple[Any, ...]] | None,
        invalid: list[tuple[Any, ...]],
        arrow: Any = None,
        labels: list[tuple[str, str]] | None = None,
    ) -> None:
        self._tuples = predictions
        self._arrow = arrow
        self._csv: bytes | None = None
        self.invalid = invalid
        self.labels = labels or []  # label records: (source position, payload)

    @classmethod
    def from_arrow(cls, transformed: Any) -> CopyBatch:
        predictions, invalid, labels = split_arrow(transformed)
        return cls(None, invalid, arrow=predictions, labels=labels)

    @classmethod
    def from_rows(cls, transformed: Iterable[Mapping[str, Any]]) -> CopyBatch:
        """Rows of transform.flatten; those with a reject_reason become rejected records."""
        predictions: list[tuple[Any, ...]] = []
        invalid: list[tuple[Any, ...]] = []
        labels: list[tuple[str, str]] = []
        for row in transformed:
            reason = row.get("reject_reason")
            if reason is None and row.get("record_type") is not None:
                labels.append((row["source_position"], row["payload"]))
            elif reason is None:
                predictions.append(prediction_tuple(row))
            else:
                invalid.append(
                    rejected_tuple(
                        {
                            "source_position": row["source_position"],
                            "event_id": row["event_id"],
                            "reason": reason,
                            "raw_payload": row["payload"],
                        }
                    )
                )
        return cls(predictions, invalid, labels=labels)

    def __len__(self) -> int:
        return len(self.predictions) if self._arrow is None else self._arrow.num_rows

    @property
    def predictions(self) -> list[tuple[Any, ...]]:
        if self._tuples is None:
            self._tuples = _arrow_tuples(self._arrow)
        return self._tuples

    def event_ids(self) -> list[str]:
        if self._arrow is not None:
            return self._arrow["event_id"].to_pylist()
        return [row[0] for row in self.predictions]

    def copy_into(self, cur: Any, table: str) -> None:
        """COPY the loadable rows into `table` (fraud_predictions or the staging table)."""
        if self._arrow is not None:
            if self._csv is None:
                self._csv = arrow_csv(self._arrow)
            with cur.copy(sql.copy_predictions_csv(table)) as copy:
                copy.write(self._csv)
            return
        with cur.copy(sql.copy_predictions(table)) as copy:
            for row in self.predictions:
                copy.write_row(row)


class PostgresSink:
    """Loads batches into PostgreSQL: `load` is the one way in."""

    def __init__(
        self,
        url: str,
        *,
        rules: RuleSet | None = None,
        job: str = "elt",
        max_wait_seconds: float = 300.0,
        connect_fn: Callable[[str], Any] = connect,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self._rules = indicators.load_rules() if rules is None else rules
        self._job = job
        self._max_wait = max_wait_seconds
        self._connect = connect_fn
        self._sleep = sleep
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect(self._url)
            # Room for a batch's window aggregates in memory rather than spilled to disk.
            self._conn.execute("SET work_mem = '64MB'")
            self._conn.commit()
            apply_schema(self._conn)
            # Temporary tables live as long as the session: created once per connection.
            with self._conn.transaction():
                self._conn.execute(sql.CREATE_STAGING)
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()

    def load(self, batch: CopyBatch, progress: tuple[str, int] | None = None) -> LoadResult:
        """Load one batch exactly once in effect, retrying while the database is away.
        `progress` (checkpoint, batch id) is recorded in the batch's own transaction."""

        def forget_connection() -> None:
            self._conn = None

        return retry_while_unavailable(
            lambda: self._commit(batch, progress),
            self._url,
            max_wait_seconds=self._max_wait,
            logger=log,
            sleep=self._sleep,
            on_unavailable=forget_connection,
        )

    def _commit(self, batch: CopyBatch, progress: tuple[str, int] | None) -> LoadResult:
        """One attempt, in one transaction: insert, roll up and alert, record the progress,
        commit. A batch the database refuses is tried again row by row."""
        import psycopg

        conn = self._connection()

        def in_one_transaction(insert: Callable[[Any, CopyBatch], LoadResult]) -> LoadResult:
            with conn.transaction():
                result = self._roll_up_and_alert(conn, insert(conn, batch))
                if progress is not None:
                    checkpoint, batch_id = progress
                    conn.execute(
                        sql.RECORD_PROGRESS, {"checkpoint": checkpoint, "batch_id": batch_id}
                    )
                return result

        try:
            return in_one_transaction(self._insert)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            log.warning("batch refused by PostgreSQL (%s); loading row by row", exc)
        return in_one_transaction(self._insert_row_by_row)

    def _roll_up_and_alert(self, conn: Any, loaded: LoadResult) -> LoadResult:
        """Roll up the rows this transaction inserted, then evaluate every indicator rule
        over the windows they touched (a replayed batch inserts nothing, so it changes no
        rollup and no alert), then move the watermark."""
        if not loaded.inserted:
            return loaded
        for statement in sql.ROLL_UPS:
            conn.execute(statement)
        row = conn.execute(indicators.WATERMARK_QUERY, {"job": self._job}).fetchone()
        watermark = row[0] if row else None
        late = conn.execute(indicators.LATE_ROWS_QUERY, {"watermark": watermark}).fetchone()[0]
        raised = updated = 0
        for rule in self._rules.rules:
            alert = indicators.alert_statement(rule, watermark)
            for (is_new,) in conn.execute(alert.sql, alert.params).fetchall():
                raised += int(is_new)
                updated += int(not is_new)
        advance = indicators.advance_watermark(self._rules, self._job)
        conn.execute(advance.sql, advance.params)
        return replace(loaded, alerts_raised=raised, alerts_updated=updated, late_rows=late)

    def _insert(self, conn: Any, batch: CopyBatch) -> LoadResult:
        """The batch's new rows into fraud_predictions (noted for the rollups), conflicting
        duplicates and invalid records into the rejected table."""
        if len(batch) and self._copy_all_new(conn, batch):
            inserted, conflicts = len(batch), 0
        else:
            conn.execute("TRUNCATE fraudit_staging")
            with conn.cursor() as cur:
                batch.copy_into(cur, "fraudit_staging")
            (inserted,) = conn.execute(sql.INSERT_FROM_STAGING).fetchone()
            # Only rows that were not inserted can conflict: skip the join when all were.
            conflicts = 0 if inserted == len(batch) else conn.execute(sql.REJECT_CONFLICTS).rowcount
        label_rows, refused_labels = label_rows_of(batch.labels)
        labels = store_label_rows(conn, label_rows).new if label_rows else 0
        conn.execute("TRUNCATE fraudit_staging_rejected")
        with conn.cursor() as cur, cur.copy(sql.COPY_STAGING_REJECTED) as copy:
            for row in [*batch.invalid, *refused_labels]:
                copy.write_row(row)
        rejected = conn.execute(sql.INSERT_REJECTED).rowcount
        return LoadResult(int(inserted), rejected, conflicts, labels_inserted=labels)

    @staticmethod
    def _copy_all_new(conn: Any, batch: CopyBatch) -> bool:
        """COPY the rows straight into the table, in a savepoint. False (and nothing
        written) when an event_id is already there or repeats within the batch."""
        import psycopg

        try:
            with conn.transaction(), conn.cursor() as cur:
                batch.copy_into(cur, "fraud_predictions")
                cur.execute(sql.NOTE_COPIED, {"ids": batch.event_ids()})
        except psycopg.errors.UniqueViolation:
            return False
        return True

    def _insert_row_by_row(self, conn: Any, batch: CopyBatch) -> LoadResult:
        """Each row in a savepoint of its own: a row the database refuses is kept in the
        rejected table with the database's reason."""
        import psycopg

        inserted = conflicts = 0  # fraudit_batch_inserted accumulates across savepoints
        refused: list[tuple[Any, ...]] = []
        for row in batch.predictions:
            try:
                with conn.transaction():
                    one = self._insert(conn, CopyBatch([row], []))
                inserted += one.inserted
                conflicts += one.rejected_conflicts
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                position = row[sql.PREDICTION_COLUMNS.index("source_position")]
                payload = row[sql.PREDICTION_COLUMNS.index("payload")]
                refused.append(
                    (
                        position,
                        row[0],
                        f"database refused the row: {str(exc).splitlines()[0]}",
                        _clean(payload) or "",
                    )
                )
        last = self._insert(conn, CopyBatch([], [*batch.invalid, *refused], labels=batch.labels))
        return LoadResult(
            inserted, last.rejected_invalid, conflicts, labels_inserted=last.labels_inserted
        )
