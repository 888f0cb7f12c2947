"""The backtest as an AWS Glue 5 batch job (job type `glueetl`, in the VPC beside the
database): the same extract, engine and report as `fraudit backtest`, with the extract
staged on S3 for the workers and the report written to S3 as well as to
fraud_backtest_runs. Glue runs fraudit/backtest/glue_job.py; this module comes in the
fraudit wheel with CEL (--additional-python-modules).

Job arguments (all `--name value`):
  --db_secret_arn, --db_host, --db_port, --db_name   the database, as the stream job's
  --ruleset_uri     s3://... the candidate ruleset document
  --policy_uri      s3://... the candidate policy JSON
  --family          cards (default)
  --start, --end, --as_of   ISO 8601 dates or times with offsets
  --maturity_days, --review_capacity
  --promote_shadow, --current_lists, --shadow_model   "true" or "false"
  --work_prefix     s3://.../backtests/ : the staged extract and the report go under it
  --created_by      who asked for the run
  --region          the AWS region (default: the job's)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("fraudit.backtest.glue")


def _when(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _flag(text: str) -> bool:
    if text.lower() not in {"true", "false"}:
        raise argparse.ArgumentTypeError(f"{text!r}: true or false")
    return text.lower() == "true"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Glue passes `--NAME value` pairs, plus its own, which are ignored."""
    parser = argparse.ArgumentParser(prog="fraudit_backtest_job.py", allow_abbrev=False)
    parser.add_argument("--db_secret_arn", required=True)
    parser.add_argument("--db_host")
    parser.add_argument("--db_port", type=int)
    parser.add_argument("--db_name")
    parser.add_argument("--ruleset_uri", required=True)
    parser.add_argument("--policy_uri", required=True)
    parser.add_argument("--family", default="cards")
    parser.add_argument("--start", type=_when, required=True)
    parser.add_argument("--end", type=_when, required=True)
    parser.add_argument("--as_of", type=_when, required=True)
    parser.add_argument("--maturity_days", type=int, default=60)
    parser.add_argument("--review_capacity", type=int, default=100)
    parser.add_argument("--promote_shadow", type=_flag, default=False)
    parser.add_argument("--current_lists", type=_flag, default=False)
    parser.add_argument("--shadow_model", type=_flag, default=False)
    parser.add_argument("--work_prefix", required=True)
    parser.add_argument("--created_by", default="glue")
    parser.add_argument("--region", default=None, help="default: the job's own region")
    args, _ = parser.parse_known_args(argv)
    if not args.work_prefix.startswith("s3://"):
        parser.error("--work_prefix must be an s3:// prefix")
    return args


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _read(s3: Any, uri: str) -> str:
    bucket, key = _split(uri)
    return str(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8"))


def main(argv: Sequence[str]) -> None:
    from pyspark.sql import SparkSession

    from fraudit.aws_clients import aws_client
    from fraudit.backtest.extract import Extracted
    from fraudit.backtest.run import BacktestPlan, candidate_of, run_backtest
    from fraudit.db.connection import connect, url_from_secret_id

    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    args = parse_args(argv)
    s3 = aws_client("s3", region=args.region)
    candidate = candidate_of(
        args, args.family, _read(s3, args.ruleset_uri), _read(s3, args.policy_uri)
    )
    plan = BacktestPlan(
        args.start,
        args.end,
        args.as_of,
        args.maturity_days,
        args.review_capacity,
        args.created_by,
    )
    url = url_from_secret_id(
        aws_client("secretsmanager", region=args.region),
        args.db_secret_arn,
        host=args.db_host,
        port=args.db_port,
        dbname=args.db_name,
    )
    prefix = args.work_prefix.rstrip("/") + f"/{datetime.now(UTC):%Y%m%dT%H%M%S}"

    def stage(found: Extracted) -> tuple[str, str]:
        bucket, key = _split(prefix)
        uris = []
        for path in (found.decisions, found.labels):
            s3.upload_file(str(path), bucket, f"{key}/{path.name}")
            uris.append(f"s3://{bucket}/{key}/{path.name}")
        return uris[0], uris[1]

    spark = SparkSession.builder.getOrCreate()
    conn = connect(url, autocommit=True)
    try:
        report = run_backtest(conn, spark, candidate, plan, log.info, stage)
    finally:
        conn.close()
    bucket, key = _split(prefix)
    s3.put_object(
        Bucket=bucket, Key=f"{key}/report.json", Body=json.dumps(report, indent=2).encode()
    )
    log.info("backtest %s: report at s3://%s/%s/report.json", report["run_id"], bucket, key)
