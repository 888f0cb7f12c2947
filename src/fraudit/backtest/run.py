"""A backtest run, locally: extract the period from PostgreSQL, replay and judge it on
Spark, keep the report in fraud_backtest_runs. Progress goes to `say`."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fraudit.backtest import engine
from fraudit.backtest.candidate import Candidate
from fraudit.backtest.extract import Extracted, extract, list_history
from fraudit.backtest.report import build_report
from fraudit.rules.document import RulesetDocument

INSERT_RUN = """
INSERT INTO fraud_backtest_runs (run_id, created_by, candidate, period_start, period_end,
    as_of, maturity_days, review_capacity, decisions, report)
VALUES (%(run_id)s, %(created_by)s, %(candidate)s::jsonb, %(start)s, %(end)s, %(as_of)s,
    %(maturity_days)s, %(review_capacity)s, %(decisions)s, %(report)s::jsonb)"""


@dataclass(frozen=True)
class BacktestPlan:
    start: datetime
    end: datetime
    as_of: datetime
    maturity_days: int
    review_capacity: int
    created_by: str

    def context(self, run_id: str, candidate: Candidate) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "period_start": self.start.isoformat(),
            "period_end": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "maturity_days": self.maturity_days,
            "review_capacity": self.review_capacity,
            "candidate": candidate.describe(),
        }


def candidate_of(args: Any, family: str, ruleset: str, policy: str) -> Candidate:
    """The candidate a command's or a job's arguments name (`promote_shadow`,
    `current_lists`, `shadow_model`): one reading for `fraudit backtest` and the Glue job."""
    return Candidate(
        family=family,
        ruleset=ruleset,
        policy=policy,
        promote_shadow=args.promote_shadow,
        current_lists=args.current_lists,
        shadow_model=args.shadow_model,
    )


def evaluate(
    decisions: Any, labels: Any, candidate: Candidate, plan: BacktestPlan, run_id: str
) -> dict[str, Any]:
    """The engine over two DataFrames (stored payloads; effective labels) -> the report."""
    replayed = engine.replay(decisions, candidate).cache()
    outcomes = engine.with_outcomes(replayed, labels, plan.as_of, plan.maturity_days).cache()
    try:
        unreadable = [r.asDict() for r in engine.problems(replayed).limit(20).collect()]
        days = [r.asDict() for r in engine.daily_figures(outcomes).collect()]
        if not days:
            raise ValueError(
                f"no {candidate.family} decisions from {plan.start.isoformat()} to "
                f"{plan.end.isoformat()}"
            )
        period = engine.period_figures(outcomes).collect()[0].asDict()
        precision = [
            r.asDict() for r in engine.card_precision_at_k(outcomes, plan.review_capacity).collect()
        ]
        rules = [r.asDict() for r in engine.rule_figures(outcomes).collect()]
    finally:
        outcomes.unpersist()
        replayed.unpersist()
    document = RulesetDocument.from_json(candidate.ruleset)
    details = {
        r.rule_id: {"version": r.version, "state": str(r.state), "action": str(r.action)}
        for r in document.rules
    }
    context = plan.context(run_id, candidate)
    context["unreadable"] = unreadable
    return build_report(days, period, precision, rules, details, context)


def _local(found: Extracted) -> tuple[str, str]:
    return str(found.decisions), str(found.labels)


def run_backtest(
    conn: Any,
    spark: Any,
    candidate: Candidate,
    plan: BacktestPlan,
    say: Callable[[str], None] = lambda _: None,
    stage: Callable[[Extracted], tuple[str, str]] = _local,
) -> dict[str, Any]:
    """Extract, replay and judge, keep the run. `stage` puts the extracted files where the
    Spark workers read them (the local files themselves; S3 on Glue) and says where."""
    run_id = f"bt-{datetime.now().strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    document = RulesetDocument.from_json(candidate.ruleset)
    if not candidate.current_lists and document.lists:
        names = [x.name for x in document.lists]
        candidate = candidate.model_copy(
            update={"lists": list_history(conn, names, plan.start, plan.end)}
        )
    with tempfile.TemporaryDirectory(prefix="fraudit-backtest-") as folder:
        say(f"{run_id}: extracting decisions and labels")
        found = extract(conn, Path(folder), plan.start, plan.end, plan.as_of, say)
        say(
            f"  {found.decision_count:,} decisions, {found.label_count:,} labelled, in "
            f"{time.perf_counter() - started:.1f} s; replaying on Spark"
        )
        decisions_at, labels_at = stage(found)
        decisions = spark.read.parquet(decisions_at)
        labels = spark.read.parquet(labels_at)
        report = evaluate(decisions, labels, candidate, plan, run_id)
    report["seconds"] = round(time.perf_counter() - started, 1)
    conn.execute(
        INSERT_RUN,
        {
            "run_id": run_id,
            "created_by": plan.created_by,
            "candidate": json.dumps(candidate.describe()),
            "start": plan.start,
            "end": plan.end,
            "as_of": plan.as_of,
            "maturity_days": plan.maturity_days,
            "review_capacity": plan.review_capacity,
            "decisions": report["decisions"],
            "report": json.dumps(report),
        },
    )
    say(f"{run_id}: done in {report['seconds']:.1f} s")
    return report
