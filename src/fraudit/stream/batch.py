"""What each micro-batch does (the foreachBatch body, shared by the local job and Glue):
transform it once, bring every transformed row to the driver in one Spark job (the
reference counts, then writes: two reads of the source), load it in one transaction."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame

from fraudit.stream.load import CopyBatch, LoadResult, PostgresSink
from fraudit.stream.transform import transform


def transformed_arrow(batch: DataFrame) -> Any:
    """The transformed batch as one Arrow table (pyspark 4: the local job)."""
    return transform(batch).toArrow()


def collect_for_load(batch: DataFrame) -> CopyBatch:
    """The transformed batch on the driver: as Arrow on pyspark 4, as rows on pyspark 3.5
    (Glue 5), which has no toArrow."""
    transformed = transform(batch)
    if hasattr(transformed, "toArrow"):
        return CopyBatch.from_arrow(transformed.toArrow())
    return CopyBatch.from_rows(row.asDict() for row in transformed.collect())


def process_batch(batch: DataFrame, batch_id: int, sink: PostgresSink) -> LoadResult:
    return sink.load(collect_for_load(batch))
