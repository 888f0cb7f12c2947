"""`fraudit backtest`: a candidate ruleset and/or decision policy tried on a period's stored
decisions against the labels reported by an as-of date, beside what the live configuration
decided (docs/BACKTESTS.md)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraudit.cli.labels import parse_when
from fraudit.console import say as _say
from fraudit.settings import Settings


def _ruleset_text(where: str, settings: Settings) -> str:
    """The ruleset document at a path or URI (the published one by default)."""
    from fraudit.aws_clients import settings_client
    from fraudit.rules.document import empty_ruleset
    from fraudit.rules.source import source_of

    fetched = source_of(where, lambda: settings_client("s3", settings)).fetch(None)
    if fetched is None or fetched.body is None:
        _say(f"no ruleset at {where}: the candidate has no rules")
        return empty_ruleset(datetime.now(UTC)).to_json()
    return fetched.body.decode("utf-8")


def _policy_text(args: argparse.Namespace, settings: Settings, family: Any) -> str:
    """--policy, else the candidate's in shadow (--shadow-model), else the published one."""
    from fraudit.api.wiring import load_policy, load_shadow_policy
    from fraudit.errors import ArtifactError
    from fraudit.scoring.policy import PolicyError

    if args.policy:
        return Path(args.policy).read_text(encoding="utf-8")
    if args.shadow_model:
        version = settings.family(family).shadow_model_version
        if not version:
            raise SystemExit(
                f"error: --shadow-model needs the candidate's policy: give --policy FILE, or "
                f"set {family.variable('shadow_model_version')} to the candidate in shadow"
            )
        try:
            return load_shadow_policy(settings, family, version).to_json()
        except (ArtifactError, PolicyError) as exc:
            raise SystemExit(f"error: {exc}") from None
    policy = load_policy(settings, family)
    if policy is None:
        raise SystemExit(f"error: no {family.name} policy is published: give --policy FILE")
    return policy.to_json()


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from fraudit.backtest.report import report_lines
    from fraudit.backtest.run import BacktestPlan, candidate_of, run_backtest
    from fraudit.db.connection import open_database
    from fraudit.families import family
    from fraudit.rules.document import RulesetDocument, RulesetError
    from fraudit.rules.engine import CompiledRuleset
    from fraudit.stream.spark_session import local_session

    chosen = family(args.family)
    as_of = args.as_of or datetime.now(UTC)
    if not args.start < args.end:
        _say("error: --start must be before --end")
        return 2
    ruleset = _ruleset_text(args.ruleset or settings.ruleset_uri, settings)
    try:
        CompiledRuleset(RulesetDocument.from_json(ruleset), [chosen])
    except (RulesetError, ValueError) as exc:
        _say(f"refused: the candidate ruleset does not compile: {exc}")
        return 2
    candidate = candidate_of(args, chosen.name, ruleset, _policy_text(args, settings, chosen))
    plan = BacktestPlan(
        args.start,
        args.end,
        as_of,
        settings.label_maturity_days if args.maturity_days is None else args.maturity_days,
        args.review_capacity or settings.review_capacity,
        args.actor,
    )
    conn = open_database(settings)
    spark = local_session("fraudit-backtest", f"local[{args.cores}]")
    try:
        report = run_backtest(conn, spark, candidate, plan, _say)
    except ValueError as exc:
        _say(f"error: {exc}")
        return 2
    finally:
        spark.stop()
        conn.close()
    print("\n".join(report_lines(report)))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
        _say(f"report written to {args.out}")
    return 0


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "backtest",
        help="try a ruleset and/or policy on stored decisions and matured labels",
    )
    p.add_argument("--start", type=parse_when, required=True, help="first day (UTC) of the period")
    p.add_argument("--end", type=parse_when, required=True, help="the period ends before this")
    p.add_argument("--as-of", type=parse_when, default=None, help="labels reported by (now)")
    p.add_argument("--family", default="cards")
    p.add_argument(
        "--ruleset", default=None, help="a ruleset document (path or s3://): default the published"
    )
    p.add_argument(
        "--policy",
        default=None,
        help="a policy JSON: default the published one (the shadow's with --shadow-model)",
    )
    p.add_argument(
        "--promote-shadow", action="store_true", help="enforce the ruleset's shadow rules too"
    )
    p.add_argument(
        "--shadow-model",
        action="store_true",
        help="decide on the scores the candidate model recorded in shadow (its policy by "
        "default; events without them are left out of both and counted)",
    )
    p.add_argument(
        "--current-lists",
        action="store_true",
        help="every event sees the lists as the document has them (default: as it saw them)",
    )
    p.add_argument(
        "--maturity-days", type=int, default=None, help="default FRAUDIT_LABEL_MATURITY_DAYS"
    )
    p.add_argument(
        "--review-capacity", type=int, default=None, help="k; default FRAUDIT_REVIEW_CAPACITY"
    )
    p.add_argument("--cores", type=int, default=2, help="local Spark cores")
    p.add_argument("--out", default=None, help="also write the report as JSON here")
    p.add_argument("--as", dest="actor", required=True, help="who runs it (kept with the run)")
    p.set_defaults(func=cmd_backtest)
