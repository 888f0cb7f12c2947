"""`fraudit stream`: the streaming job on local Spark."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fraudit.console import say as _say
from fraudit.settings import Settings
from fraudit.stream.kinesis_offsets import STARTING_POSITIONS, TRIM_HORIZON
from fraudit.stream.spark_session import DRIVER_MEMORY


def cmd_stream(args: argparse.Namespace, settings: Settings) -> int:
    """Kinesis -> Spark (local) -> PostgreSQL, until Ctrl-C."""
    from fraudit.db.connection import database_url as configured_database_url
    from fraudit.stream.indicators import load_rules
    from fraudit.stream.local_job import StreamOptions, start
    from fraudit.stream.spark_session import local_session

    database_url = args.database_url or configured_database_url(settings)
    if not database_url:
        _say(
            "error: no database: set DATABASE_URL (or FRAUDIT_DATABASE_SECRET_ID) or pass "
            "--database-url"
        )
        return 2
    options = StreamOptions(
        stream_name=args.stream_name or settings.stream_name,
        endpoint_url=args.endpoint_url or settings.aws_endpoint_url_kinesis,
        region=settings.aws_region,
        starting_position=args.starting_position,
        starting_timestamp=args.starting_timestamp,
        trigger_interval=args.trigger_interval,
        checkpoint_dir=args.checkpoint_dir,
        database_url=database_url,
        max_records_per_trigger=args.max_records_per_trigger,
        rules_file=args.rules or settings.indicator_rules,
    )
    try:
        load_rules(options.rules_file)
    except (OSError, ValueError) as exc:
        _say(f"error: indicator rules: {exc}")
        return 2
    spark = local_session("fraudit-stream", args.master, args.driver_memory)
    spark.sparkContext.setLogLevel("WARN")
    query = start(spark, options)
    _say(
        f"streaming {options.stream_name} -> PostgreSQL (checkpoint {options.checkpoint_dir}); "
        "Ctrl-C stops"
    )
    try:
        query.awaitTermination()
    except KeyboardInterrupt:
        _say("stopping the stream (the checkpoint keeps its place)")
    finally:
        query.stop()
        spark.stop()
    return 0


def add_parsers(sub: Any) -> None:
    """The stream subcommand(s)."""
    p = sub.add_parser("stream", help="Kinesis -> Spark -> PostgreSQL, on local Spark")
    p.add_argument("--stream-name")
    p.add_argument("--endpoint-url", help="Kinesis endpoint (default AWS_ENDPOINT_URL_KINESIS)")
    p.add_argument("--starting-position", default=TRIM_HORIZON, choices=STARTING_POSITIONS)
    p.add_argument(
        "--starting-timestamp", help="ISO-8601 or epoch ms, with --starting-position AT_TIMESTAMP"
    )
    p.add_argument(
        "--rules",
        type=Path,
        help="indicator rules TOML (default FRAUDIT_INDICATOR_RULES, else built-in)",
    )
    p.add_argument("--trigger-interval", default="1 second")
    p.add_argument("--checkpoint-dir", type=Path, default=Path(".fraudit/checkpoints/elt"))
    p.add_argument("--database-url", help="default DATABASE_URL")
    p.add_argument("--max-records-per-trigger", type=int, default=10_000)
    p.add_argument("--master", default="local[2]")
    p.add_argument(
        "--driver-memory",
        default=DRIVER_MEMORY,
        help=f"Spark's JVM heap ceiling (default {DRIVER_MEMORY}: see stream/spark_session.py)",
    )
    p.set_defaults(func=cmd_stream)
