"""The backtest's Glue job arguments: what a run must name, and what Glue adds of its own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fraudit.backtest.glue import parse_args

pytestmark = pytest.mark.unit

REQUIRED = [
    "--db_secret_arn", "arn:aws:secretsmanager:eu-west-1:1:secret:db",
    "--ruleset_uri", "s3://artifacts/rules/ruleset.json",
    "--policy_uri", "s3://artifacts/policy/cards/policy.json",
    "--work_prefix", "s3://checkpoints/backtests/",
    "--start", "2026-01-01", "--end", "2026-02-01T00:00:00+01:00", "--as_of", "2026-05-01",
]  # fmt: skip


def test_a_run_names_its_period_and_glue_adds_its_own_arguments():
    args = parse_args([*REQUIRED, "--JOB_ID", "j_1", "--promote_shadow", "true"])
    assert args.start == datetime(2026, 1, 1, tzinfo=UTC)
    assert args.end == datetime(2026, 1, 31, 23, tzinfo=UTC)
    assert args.promote_shadow is True
    assert args.current_lists is False
    assert (args.maturity_days, args.review_capacity, args.family) == (60, 100, "cards")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--work_prefix", "/tmp/x"], "s3:// prefix"),
        (["--promote_shadow", "yes"], "true or false"),
        (["--start", "soon"], "invalid"),
    ],
)
def test_a_bad_argument_stops_the_job_before_it_reads_anything(change, message, capsys):
    with pytest.raises(SystemExit):
        parse_args([*REQUIRED, *change])
    assert message in capsys.readouterr().err
