"""What each micro-batch does (the foreachBatch body, shared by the local job and Glue):
transform once, then load valid and rejected rows in one database transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyspark.sql import DataFrame

from fraudit.jobs.elt.loader import LoadResult, PostgresSink
from fraudit.jobs.elt.transform import transform


def split_rows(rows: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                         list[dict[str, Any]]]:
    """Transformed rows -> (loadable rows, rejected records with their reason)."""
    valid: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for row in rows:
        reason = row.pop("reject_reason")
        if reason is None:
            valid.append(row)
        else:
            rejected.append({"source_position": row["source_position"],
                             "event_id": row["event_id"], "reason": reason,
                             "raw_payload": row["payload"] or ""})
    return valid, rejected


def transformed_arrow(batch: DataFrame) -> Any:
    """The transformed batch as one Arrow table: one Spark job, one read of the source
    (pyspark 4; the local job)."""
    return transform(batch).toArrow()


def process_batch(batch: DataFrame, batch_id: int, sink: PostgresSink) -> LoadResult:
    """One Spark job reads the batch once and brings every transformed row to the driver,
    where the sink needs them (the reference counts, then writes: two reads of the
    source). pyspark 4 hands the rows over as Arrow; pyspark 3.5 (Glue 5) as Row objects."""
    transformed = transform(batch)
    if hasattr(transformed, "toArrow"):
        return sink.write_arrow(transformed.toArrow())
    valid, rejected = split_rows(row.asDict() for row in transformed.collect())
    return sink.write(valid, rejected)
