"""`fraudit stream`: the ELT job on local Spark, reading Kinesis with fraudit's source."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudit.db.connection import describe
from fraudit.jobs.elt.batch import process_batch
from fraudit.jobs.elt.indicators import load_rules
from fraudit.jobs.elt.loader import PostgresSink

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


def start(spark: Any, options: StreamOptions) -> Any:
    """Start the query; the caller awaits or stops it."""
    from fraudit.sources.kinesis import KinesisDataSource

    spark.dataSource.register(KinesisDataSource)
    rules = load_rules(options.rules_file)  # a bad rules file fails here, before any read
    sink = PostgresSink(options.database_url, rules=rules)
    reader = (spark.readStream.format("kinesis")
              .option("streamName", options.stream_name)
              .option("region", options.region)
              .option("startingPosition", options.starting_position)
              .option("maxRecordsPerTrigger", str(options.max_records_per_trigger)))
    if options.starting_timestamp:
        reader = reader.option("startingTimestamp", options.starting_timestamp)
    if options.endpoint_url:
        reader = reader.option("endpointUrl", options.endpoint_url)

    def each_batch(batch: Any, batch_id: int) -> None:
        result = process_batch(batch, batch_id, sink)
        log.info("batch %d: %d inserted, %d rejected, %d conflicting; alerts %d new, "
                 "%d updated; %d late", batch_id, result.inserted, result.rejected_invalid,
                 result.rejected_conflicts, result.alerts_raised, result.alerts_updated,
                 result.late_rows)

    log.info("streaming %s into %s with %d indicator rules", options.stream_name,
             describe(options.database_url), len(rules.rules))
    return (reader.load().writeStream.foreachBatch(each_batch)
            .option("checkpointLocation", str(options.checkpoint_dir))
            .trigger(processingTime=options.trigger_interval)
            .queryName("fraudit-elt").start())
