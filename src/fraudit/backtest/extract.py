"""The backtest's extract: a period's stored decisions, the label that counts for each as
of the as-of date, and the versions of the lists they saw, from PostgreSQL into Parquet
files Spark reads (locally; on AWS the Glue job reads the same from S3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fraudit.backtest.candidate import ListHistory
from fraudit.labels.queries import PERIOD_EFFECTIVE_LABELS
from fraudit.rules.store import RuleStore

DECISIONS = """
SELECT payload::text FROM fraud_predictions
WHERE event_time >= %(start)s AND event_time < %(end)s"""
LIST_VERSIONS_SEEN = """
SELECT DISTINCT v.key, v.value::int
FROM fraud_predictions p, jsonb_each_text(p.rules -> 'list_versions') v
WHERE p.event_time >= %(start)s AND p.event_time < %(end)s AND v.key = ANY(%(names)s)"""
ROWS_PER_FETCH = 20_000


@dataclass(frozen=True)
class Extracted:
    decisions: Path
    labels: Path
    decision_count: int
    label_count: int


def _write(path: Path, names: list[str], rows: Any, on_rows: Callable[[int], None]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(n, pa.string()) for n in names])
    written = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        while True:
            chunk = rows.fetchmany(ROWS_PER_FETCH)
            if not chunk:
                break
            columns = list(zip(*chunk, strict=True))
            writer.write_table(pa.table(columns, schema=schema))
            written += len(chunk)
            on_rows(written)
    return written


def extract(
    conn: Any,
    folder: Path,
    start: datetime,
    end: datetime,
    as_of: datetime,
    progress: Callable[[str], None] = lambda _: None,
) -> Extracted:
    """The period's decisions (their stored payloads) and effective labels, as Parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    params = {"start": start, "end": end, "as_of": as_of}
    decisions, labels = folder / "decisions.parquet", folder / "labels.parquet"

    def every(step: int, what: str) -> Callable[[int], None]:
        def say(n: int) -> None:
            if n % step < ROWS_PER_FETCH:
                progress(f"  {n:,} {what} extracted")

        return say

    with conn.transaction(), conn.cursor(name="fraudit_backtest_decisions") as cur:
        cur.execute(DECISIONS, params)
        count = _write(decisions, ["payload"], cur, every(200_000, "decisions"))
    with conn.transaction(), conn.cursor(name="fraudit_backtest_labels") as cur:
        cur.execute(PERIOD_EFFECTIVE_LABELS, params)
        labelled = _write(labels, ["event_id", "label"], cur, lambda _: None)
    return Extracted(decisions, labels, count, labelled)


def list_history(conn: Any, names: list[str], start: datetime, end: datetime) -> ListHistory:
    """The entries of each named list at every version the period's events saw."""
    entries: dict[str, dict[int, dict[str, float | None]]] = {}
    seen = conn.execute(LIST_VERSIONS_SEEN, {"start": start, "end": end, "names": names})
    store = RuleStore(conn)
    for name, version in seen.fetchall():
        entries.setdefault(name, {})[int(version)] = store.entries_at(name, int(version))
    return ListHistory(entries=entries)
