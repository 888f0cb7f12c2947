"""`fraudit stream`: the ELT job on local Spark, reading Kinesis with fraudit's source."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudit.db.connection import describe
from fraudit.jobs.elt.batch import process_batch, transformed_arrow
from fraudit.jobs.elt.indicators import load_rules
from fraudit.jobs.elt.loader import PostgresSink
from fraudit.jobs.elt.pipeline import BatchWriter, PipelinedQuery, prepare_checkpoint

log = logging.getLogger("fraudit.jobs.stream")


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


def start(spark: Any, options: StreamOptions, sink: PostgresSink | None = None) -> Any:
    """Start the query; the caller awaits or stops it (a sink may be given, for tests)."""
    from fraudit.sources.kinesis import KinesisDataSource

    spark.dataSource.register(KinesisDataSource)
    rules = load_rules(options.rules_file)  # a bad rules file fails here, before any read
    sink = sink or PostgresSink(options.database_url, rules=rules)
    reader = (spark.readStream.format("kinesis")
              .option("streamName", options.stream_name)
              .option("region", options.region)
              .option("startingPosition", options.starting_position)
              .option("maxRecordsPerTrigger", str(options.max_records_per_trigger)))
    if options.starting_timestamp:
        reader = reader.option("startingTimestamp", options.starting_timestamp)
    if options.endpoint_url:
        reader = reader.option("endpointUrl", options.endpoint_url)

    def load_now(batch: Any, batch_id: int) -> None:
        result = process_batch(batch, batch_id, sink)
        log.info("batch %d: %s", batch_id, result.summary())

    def load_behind(batch: Any, batch_id: int) -> None:
        assert writer is not None
        writer.submit(batch_id, transformed_arrow(batch))

    writer = None
    if options.pipelined:
        prepare_checkpoint(options.database_url, options.checkpoint_dir)
        writer = BatchWriter(sink, options.checkpoint_dir)

    log.info("streaming %s into %s with %d indicator rules%s", options.stream_name,
             describe(options.database_url), len(rules.rules),
             " (pipelined loading)" if writer else "")
    query = (reader.load().writeStream.foreachBatch(load_behind if writer else load_now)
             .option("checkpointLocation", str(options.checkpoint_dir))
             .trigger(processingTime=options.trigger_interval)
             .queryName("fraudit-elt").start())
    return query if writer is None else PipelinedQuery(query, writer)
