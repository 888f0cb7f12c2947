"""The AWS Glue 5 streaming job (job type `gluestreaming`): Kinesis -> the shared transform
and load -> PostgreSQL, with the windowed indicators and rollups. Glue runs the shell
fraudit/stream/glue_job.py as its script; this module comes in the fraudit wheel, through
--additional-python-modules.

Job arguments (all `--name value`):
  --stream_arn            the scored-events stream
  --db_secret_arn         Secrets Manager secret of the database (RDS-style JSON or a URL);
                          read at start, never logged
  --db_host, --db_port, --db_name
                          where the database is, when the secret holds only the user and
                          password (the secret RDS manages for its master user does)
  --checkpoint_location   s3://.../checkpoints/elt/ (Spark's offsets and commits)
  --window_size           micro-batch interval, default "10 seconds"
  --starting_position     TRIM_HORIZON (default), LATEST, or an ISO-8601 time
  --indicator_rules       optional rules TOML shipped with --extra-files (default: built-in)
  --max_fetch_records     optional cap on records read per shard per batch

Everything but `main()` runs without the awsglue libraries, so the batch function and the
argument handling are tested locally (tests/integration/test_stream_glue.py, on pyspark 4 and 3.5).

Glue's native Kinesis source parses the JSON itself (classification json, with our schema)
and does not expose shard ids or sequence numbers: the adapter re-serialises each row to
JSON for the shared transform and derives the record's position from its arrival time and
content. Exactly-once effect still rests on event_id (INSERT ... ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("fraudit.stream.glue_job")

RECORD_TIMESTAMP = "__src_timestamp"  # added by Glue with addRecordTimestamp=true


@dataclass(frozen=True)
class GlueJobArgs:
    job_name: str
    stream_arn: str
    db_secret_arn: str
    checkpoint_location: str
    window_size: str
    starting_position: str
    indicator_rules: str | None
    max_fetch_records: int | None
    db_host: str | None = None
    db_port: int | None = None
    db_name: str | None = None


def parse_args(argv: Sequence[str]) -> GlueJobArgs:
    """Glue passes `--NAME value` pairs, plus its own (--TempDir, --job-bookmark-option,
    ...) which are ignored here."""
    parser = argparse.ArgumentParser(prog="glue_job.py", allow_abbrev=False)
    parser.add_argument("--JOB_NAME", dest="job_name", default="fraudit-elt")
    parser.add_argument("--stream_arn", required=True)
    parser.add_argument("--db_secret_arn", required=True)
    parser.add_argument("--checkpoint_location", required=True)
    parser.add_argument("--window_size", default="10 seconds")
    parser.add_argument("--starting_position", default="TRIM_HORIZON")
    parser.add_argument("--indicator_rules", default=None)
    parser.add_argument("--max_fetch_records", type=int, default=None)
    parser.add_argument("--db_host", default=None)
    parser.add_argument("--db_port", type=int, default=None)
    parser.add_argument("--db_name", default=None)
    known, _ = parser.parse_known_args(list(argv))
    if not known.checkpoint_location.startswith("s3://"):
        parser.error("--checkpoint_location must be an s3:// URI")
    if not known.stream_arn.startswith("arn:") or ":stream/" not in known.stream_arn:
        parser.error("--stream_arn must be a Kinesis stream ARN")
    known.indicator_rules = known.indicator_rules or None  # Glue passes "" for unset
    return GlueJobArgs(**vars(known))


def kinesis_connection_options(args: GlueJobArgs) -> dict[str, str]:
    """Options of glueContext.create_data_frame.from_options(connection_type="kinesis")."""
    from fraudit.stream.schema import glue_event_ddl

    options = {
        "typeOfData": "kinesis",
        "streamARN": args.stream_arn,
        "startingPosition": args.starting_position,
        "classification": "json",
        "inferSchema": "false",
        "schema": glue_event_ddl(),
        "addRecordTimestamp": "true",
        "emitConsumerLagMetrics": "true",
        "avoidEmptyBatches": "true",
    }
    if args.max_fetch_records:
        options["maxFetchRecordsPerShard"] = str(args.max_fetch_records)
    return options


def for_each_batch_options(args: GlueJobArgs) -> dict[str, str]:
    return {"windowSize": args.window_size, "checkpointLocation": args.checkpoint_location}


def stream_region(stream_arn: str) -> str:
    """arn:aws:kinesis:<region>:<account>:stream/<name> -> region: the job's AWS calls go
    where its stream is."""
    return stream_arn.split(":")[3]


def database_url(args: GlueJobArgs, secrets_client: Any) -> str:
    from fraudit.db.connection import url_from_secret_id

    return url_from_secret_id(
        secrets_client,
        args.db_secret_arn,
        host=args.db_host,
        port=args.db_port,
        dbname=args.db_name,
    )


def glue_frame_to_raw(frame: Any) -> Any:
    """Glue's parsed Kinesis frame -> RAW_RECORD_SCHEMA (data, shard_id, sequence_number,
    arrival_time), so the shared transform applies unchanged."""
    from pyspark.sql import functions as F

    columns = [c for c in frame.columns if c != RECORD_TIMESTAMP]
    arrival = (
        F.col(RECORD_TIMESTAMP).cast("timestamp")
        if RECORD_TIMESTAMP in frame.columns
        else F.current_timestamp()
    )
    data = F.to_json(F.struct(*[F.col(f"`{c}`") for c in columns]))
    return frame.select(
        F.encode(data, "UTF-8").alias("data"),
        F.lit("glue").alias("shard_id"),
        F.concat_ws(
            "-", F.unix_millis(arrival).cast("string"), F.substring(F.sha2(data, 256), 1, 32)
        ).alias("sequence_number"),
        arrival.alias("arrival_time"),
    )


def make_batch_function(sink: Any) -> Callable[[Any, int], None]:
    """The forEachBatch body: adapt Glue's frame, then the same batch as `fraudit stream`."""
    from fraudit.stream.batch import process_batch

    def each_batch(frame: Any, batch_id: int) -> None:
        result = process_batch(glue_frame_to_raw(frame), batch_id, sink)
        log.info("batch %d: %s", batch_id, result.summary())

    return each_batch


def main(argv: Sequence[str] = tuple(sys.argv[1:])) -> None:  # pragma: no cover - on Glue
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from pyspark.context import SparkContext

    from fraudit.aws_clients import aws_client
    from fraudit.logs import configure_json_logging
    from fraudit.stream.indicators import load_rules
    from fraudit.stream.load import PostgresSink

    configure_json_logging("INFO")
    args = parse_args(argv)
    rules = load_rules(args.indicator_rules)
    secrets = aws_client("secretsmanager", region=stream_region(args.stream_arn))
    sink = PostgresSink(database_url(args, secrets), rules=rules, job=args.job_name)
    glue_context = GlueContext(SparkContext.getOrCreate())
    glue_context.spark_session.conf.set("spark.sql.session.timeZone", "UTC")
    job = Job(glue_context)
    job.init(args.job_name, {"JOB_NAME": args.job_name})
    frame = glue_context.create_data_frame.from_options(
        connection_type="kinesis",
        connection_options=kinesis_connection_options(args),
        transformation_ctx="scored_events",
    )
    glue_context.forEachBatch(
        frame=frame, batch_function=make_batch_function(sink), options=for_each_batch_options(args)
    )
    job.commit()
