"""The Glue job's pure parts: job arguments, batch options, the database secret."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from fraudit.stream.glue import (
    database_url,
    for_each_batch_options,
    parse_args,
    stream_region,
)

pytestmark = pytest.mark.unit

STREAM = "arn:aws:kinesis:eu-west-1:123456789012:stream/fraud-predictions"
REQUIRED = [
    "--stream_arn",
    STREAM,
    "--db_secret_arn",
    "arn:aws:secretsmanager:x",
    "--checkpoint_location",
    "s3://bucket/checkpoints/elt/",
]


def test_job_arguments_with_glue_s_own_arguments_mixed_in():
    args = parse_args(
        [
            "--JOB_NAME",
            "fraudit-elt-prod",
            *REQUIRED,
            "--TempDir",
            "s3://tmp/",
            "--job-bookmark-option",
            "job-bookmark-disable",
            "--window_size",
            "5 seconds",
            "--indicator_rules",
            "",
        ]
    )
    assert (args.job_name, args.stream_arn, args.window_size) == (
        "fraudit-elt-prod",
        STREAM,
        "5 seconds",
    )
    assert args.indicator_rules is None
    assert args.starting_position == "TRIM_HORIZON"
    assert for_each_batch_options(args) == {
        "windowSize": "5 seconds",
        "checkpointLocation": "s3://bucket/checkpoints/elt/",
    }


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (("s3://bucket/checkpoints/elt/", "/tmp/checkpoints"), "s3://"),
        ((STREAM, "fraud-predictions"), "stream ARN"),
    ],
)
def test_bad_job_arguments_stop_the_job_with_the_reason(replace, message, capsys):
    argv = [replace[1] if a == replace[0] else a for a in REQUIRED]
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err


def test_a_missing_argument_is_named(capsys):
    with pytest.raises(SystemExit):
        parse_args(REQUIRED[:4])
    assert "--checkpoint_location" in capsys.readouterr().err


@mock_aws
def test_database_url_comes_from_the_secret_and_escapes_the_password():
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(
        Name="fraudit/db",
        SecretString=json.dumps(
            {
                "username": "fraudit",
                "password": "p@ss/w:rd",
                "host": "db.internal",
                "port": 5432,
                "dbname": "fraudit",
            }
        ),
    )["ARN"]
    args = parse_args([*REQUIRED[:2], "--db_secret_arn", arn, *REQUIRED[4:]])
    assert database_url(args, client) == (
        "postgresql://fraudit:p%40ss%2Fw%3Ard@db.internal:5432/fraudit"
    )


@mock_aws
def test_rds_managed_secret_takes_host_port_and_name_from_the_job_arguments():
    # The secret RDS keeps for its master user holds only the user and the password.
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(
        Name="rds!db-1",
        SecretString=json.dumps({"username": "fraudit_admin", "password": "s3cr%t"}),
    )["ARN"]
    args = parse_args(
        [
            *REQUIRED[:2],
            "--db_secret_arn",
            arn,
            *REQUIRED[4:],
            "--db_host",
            "db.abc.eu-west-1.rds.amazonaws.com",
            "--db_port",
            "5433",
            "--db_name",
            "fraudit",
        ]
    )
    assert database_url(args, client) == (
        "postgresql://fraudit_admin:s3cr%25t@db.abc.eu-west-1.rds.amazonaws.com:5433/fraudit"
    )
    without_host = parse_args([*REQUIRED[:2], "--db_secret_arn", arn, *REQUIRED[4:]])
    with pytest.raises(ValueError, match="no host"):
        database_url(without_host, client)


def test_the_job_s_aws_calls_go_to_its_stream_s_region():
    assert stream_region(STREAM) == "eu-west-1"
