"""What each micro-batch does (the foreachBatch body, shared by the local job and Glue):
transform once, persist, load valid and rejected rows in one database transaction."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame

from fraudit.jobs.elt.loader import LoadResult, PostgresSink
from fraudit.jobs.elt.transform import rejected_rows, transform, valid_rows


def process_batch(batch: DataFrame, batch_id: int, sink: PostgresSink) -> LoadResult:
    """Persisted, so the two reads below do not read the source twice (the reference
    calls count() and then writes, reading the batch twice)."""
    transformed = transform(batch).persist()
    try:
        valid: list[dict[str, Any]] = [r.asDict() for r in valid_rows(transformed).collect()]
        bad: list[dict[str, Any]] = [r.asDict() for r in rejected_rows(transformed).collect()]
        return sink.write(valid, bad)
    finally:
        transformed.unpersist()
