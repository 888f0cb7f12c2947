"""`fraudit stream`: the ELT job on local Spark, reading Kinesis with fraudit's source."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudit.db.connection import describe
from fraudit.stream.batch import process_batch, transformed_arrow
from fraudit.stream.indicators import load_rules
from fraudit.stream.load import PostgresSink
from fraudit.stream.pipelined import BatchWriter, PipelinedQuery, prepare_checkpoint

log = logging.getLogger("fraudit.stream.local_job")


@dataclass(frozen=True)
class StreamOptions:
    stream_name: str
    endpoint_url: str | None
    region: str
    starting_position: str
    starting_timestamp: str | None
    trigger_interval: str
    checkpoint_dir: Path
    database_url: str
    max_records_per_trigger: int = 10_000
    rules_file: Path | None = None
    # Load batch N while Spark reads N+1 (pipeline.py); False: load before Spark commits.
    pipelined: bool = True


def batch_function(
    sink: PostgresSink, database_url: str, checkpoint_dir: Path, *, pipelined: bool
) -> tuple[Callable[[Any, int], None], BatchWriter | None]:
    """The foreachBatch body of the local job, and its writer when loading is pipelined
    (the checkpoint is then reconciled with the database first)."""
    if not pipelined:

        def load_now(batch: Any, batch_id: int) -> None:
            log.info("batch %d: %s", batch_id, process_batch(batch, batch_id, sink).summary())

        return load_now, None
    prepare_checkpoint(database_url, checkpoint_dir)
    writer = BatchWriter(sink, checkpoint_dir)

    def load_behind(batch: Any, batch_id: int) -> None:
        writer.submit(batch_id, transformed_arrow(batch))

    return load_behind, writer


def start(spark: Any, options: StreamOptions, sink: PostgresSink | None = None) -> Any:
    """Start the query; the caller awaits or stops it (a sink may be given, for tests)."""
    from fraudit.stream.kinesis_consumer import KinesisDataSource

    spark.dataSource.register(KinesisDataSource)
    rules = load_rules(options.rules_file)  # a bad rules file fails here, before any read
    sink = sink or PostgresSink(options.database_url, rules=rules)
    reader = (
        spark.readStream.format("kinesis")
        .option("streamName", options.stream_name)
        .option("region", options.region)
        .option("startingPosition", options.starting_position)
        .option("maxRecordsPerTrigger", str(options.max_records_per_trigger))
    )
    if options.starting_timestamp:
        reader = reader.option("startingTimestamp", options.starting_timestamp)
    if options.endpoint_url:
        reader = reader.option("endpointUrl", options.endpoint_url)

    each_batch, writer = batch_function(
        sink, options.database_url, options.checkpoint_dir, pipelined=options.pipelined
    )
    log.info(
        "streaming %s into %s with %d indicator rules%s",
        options.stream_name,
        describe(options.database_url),
        len(rules.rules),
        " (pipelined loading)" if writer else "",
    )
    query = (
        reader.load()
        .writeStream.foreachBatch(each_batch)
        .option("checkpointLocation", str(options.checkpoint_dir))
        .trigger(processingTime=options.trigger_interval)
        .queryName("fraudit-elt")
        .start()
    )
    return query if writer is None else PipelinedQuery(query, writer)
