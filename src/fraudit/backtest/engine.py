"""The backtest on Spark, as pure DataFrame -> DataFrame steps (the extract and the load are
elsewhere): replay the stored decisions through the candidate (its compiled rules run in
the Python workers, one Replayer per partition), attach each event's outcome as of the
as-of date, and aggregate per configuration and day, per card and day, and per rule.

Outcomes are facts about what happened, the same for every configuration: a fraud or
genuine label reported by the as-of date decides; without one, a transaction that was
declined (live) has an unknown outcome (it never had the chance to become a chargeback), and
one that went through counts as genuine only once it is older than the maturity window,
before that it is unknown. So a candidate that declines what went through and matured
without a report declines a genuine transaction: its false positives are never hidden."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraudit.backtest.candidate import (
    Candidate,
    NotReplayable,
    Replayed,
    Replayer,
    candidate_json,
)
from fraudit.backtest.report import CONFIGURATIONS
from fraudit.decisions import APPROVE, DECLINE, REVIEW
from fraudit.labels.contract import FRAUD, GENUINE

UNKNOWN = "unknown"  # an outcome no label or maturity settles yet

REPLAYED_SCHEMA = (
    "event_id string, event_time timestamp, day date, entity string, amount double,"
    " model_version_matches boolean, live_decision string, live_score double,"
    " candidate_decision string, candidate_score double, model_decision string,"
    " fired array<string>, marginal array<string>, faults int, live_fired array<string>,"
    " problem string"
)
_REPLAYED_COLUMNS = [*(f.name for f in fields(Replayed)), "problem"]


def _problem(problem: str) -> dict[str, Any]:
    # Every column given: pyspark 3.5 converts a missing array to NaN and fails on it.
    empty: dict[str, Any] = dict.fromkeys(_REPLAYED_COLUMNS)
    return {
        **empty,
        "fired": [],
        "marginal": [],
        "live_fired": [],
        "faults": 0,
        "problem": problem[:200],
    }


def _record(payload: str, replayer: Replayer) -> dict[str, Any] | None:
    """One stored event's replayed row; a row with only its `problem` when the stored
    event cannot be read as a scored event (another producer's, say); None for another
    family's event."""
    from pydantic import ValidationError

    try:
        replayed = replayer.replay_json(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        return _problem(f"{where}: {first['msg']}")
    except NotReplayable as exc:
        return _problem(str(exc))
    if replayed is None:
        return None
    values = asdict(replayed)
    for name in ("fired", "marginal", "live_fired"):
        values[name] = list(values[name])
    values["problem"] = None
    return values


def replay(decisions: DataFrame, candidate: Candidate) -> DataFrame:
    """Stored decisions (a `payload` column: the event as the API published it) -> one row
    per event of the candidate's family (REPLAYED_SCHEMA), or per unreadable event (only its
    `problem`)."""
    text = candidate_json(candidate)

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        replayer = Replayer(Candidate.model_validate_json(text))
        for batch in batches:
            rows = [r for r in (_record(p, replayer) for p in batch["payload"]) if r is not None]
            if rows:
                yield pd.DataFrame.from_records(rows, columns=_REPLAYED_COLUMNS)

    return decisions.select("payload").mapInPandas(run, REPLAYED_SCHEMA)


def outcome(
    live_decision: Column, label: Column, event_time: Column, matured_before: Column
) -> Column:
    return (
        F.when(label == FRAUD, F.lit(FRAUD))
        .when(label == GENUINE, F.lit(GENUINE))
        .when(live_decision == DECLINE, F.lit(UNKNOWN))
        .when(event_time < matured_before, F.lit(GENUINE))
        .otherwise(F.lit(UNKNOWN))
    )


def with_outcomes(
    replayed: DataFrame, labels: DataFrame, as_of: datetime, maturity_days: int
) -> DataFrame:
    """`labels`: the label that counts for each event as of `as_of` (event_id, label)."""
    matured_before = F.lit(as_of - timedelta(days=maturity_days)).cast("timestamp")
    joined = replayed.where(F.col("problem").isNull()).join(
        labels.select("event_id", F.col("label")), on="event_id", how="left"
    )
    return joined.select(
        "*",
        outcome(F.col("live_decision"), F.col("label"), F.col("event_time"), matured_before).alias(
            "outcome"
        ),
    )


def _count(condition: Column) -> Column:
    return F.sum(F.when(condition, 1).otherwise(0))


def _amount(condition: Column) -> Column:
    return F.sum(F.when(condition, F.col("amount")).otherwise(0.0))


def daily_figures(outcomes: DataFrame) -> DataFrame:
    """Per day, for each configuration: decisions, outcomes of declines and reviews,
    amounts, and the day's labelled frauds (the recall's denominator)."""
    columns: list[Column] = [
        F.count(F.lit(1)).alias("decisions"),
        _count(F.col("label") == FRAUD).alias("frauds"),
        _amount(F.col("label") == FRAUD).alias("fraud_amount"),
        _count(~F.col("model_version_matches")).alias("other_model_version"),
        F.sum("faults").alias("rule_faults"),
    ]
    for c in CONFIGURATIONS:
        decision, result = F.col(f"{c}_decision"), F.col("outcome")
        for name in (APPROVE, REVIEW, DECLINE):
            columns.append(_count(decision == name).alias(f"{c}_{name}"))
        for name, kind in ((DECLINE, "declined"), (REVIEW, "reviewed")):
            for what in (FRAUD, GENUINE, UNKNOWN):
                columns.append(
                    _count((decision == name) & (result == what)).alias(f"{c}_{kind}_{what}")
                )
        columns += [
            _amount((decision == DECLINE) & (result == FRAUD)).alias(f"{c}_fraud_amount_declined"),
            _amount((decision == REVIEW) & (result == FRAUD)).alias(f"{c}_fraud_amount_reviewed"),
            _amount((decision == DECLINE) & (result == GENUINE)).alias(
                f"{c}_genuine_amount_declined"
            ),
            F.countDistinct(
                F.when((decision == DECLINE) & (result == GENUINE), F.col("entity"))
            ).alias(f"{c}_genuine_customers_declined"),
        ]
    return outcomes.groupBy("day").agg(*columns).orderBy("day")


def period_figures(outcomes: DataFrame) -> DataFrame:
    """What does not add up over days: customers affected over the whole period."""
    return outcomes.agg(
        *(
            F.countDistinct(
                F.when(
                    (F.col(f"{c}_decision") == DECLINE) & (F.col("outcome") == GENUINE),
                    F.col("entity"),
                )
            ).alias(f"{c}_genuine_customers_declined")
            for c in CONFIGURATIONS
        )
    )


def card_precision_at_k(outcomes: DataFrame, k: int) -> DataFrame:
    """Per day and configuration: of the k cards (entities) with the highest score that day,
    the share with a fraud that day (Fraud Detection Handbook, card precision top-k; divided
    by k even on a day with fewer cards)."""
    per_card = outcomes.groupBy("day", "entity").agg(
        F.max((F.col("label") == FRAUD).cast("int")).alias("compromised"),
        *(F.max(f"{c}_score").alias(f"{c}_score") for c in CONFIGURATIONS),
    )
    per_card = per_card.fillna({"compromised": 0})
    ranked = per_card.select(
        "day",
        "compromised",
        *(
            F.row_number()
            .over(Window.partitionBy("day").orderBy(F.col(f"{c}_score").desc(), "entity"))
            .alias(f"{c}_rank")
            for c in CONFIGURATIONS
        ),
    )
    return (
        ranked.groupBy("day")
        .agg(
            *(
                (_count((F.col(f"{c}_rank") <= k) & (F.col("compromised") == 1)) / k).alias(
                    f"{c}_card_precision_at_k"
                )
                for c in CONFIGURATIONS
            )
        )
        .orderBy("day")
    )


def rule_figures(outcomes: DataFrame) -> DataFrame:
    """Per candidate rule: its hits by outcome, the fraud amount it hit,
    and its marginal catch (frauds it caught that neither the model nor another enforced
    catching rule would have)."""
    hits = outcomes.select(F.explode("fired").alias("rule_id"), "outcome", "amount", "marginal")
    result = F.col("outcome")
    return hits.groupBy("rule_id").agg(
        F.count(F.lit(1)).alias("hits"),
        _count(result == FRAUD).alias("fraud"),
        _count(result == GENUINE).alias("genuine"),
        _count(result == UNKNOWN).alias("unknown"),
        _amount(result == FRAUD).alias("fraud_amount"),
        _count((result == FRAUD) & F.array_contains("marginal", F.col("rule_id"))).alias(
            "marginal_fraud"
        ),
    )


def problems(replayed: DataFrame) -> DataFrame:
    """The stored events left out (unreadable, or not decidable by the candidate): how many
    of each problem."""
    return (
        replayed.where(F.col("problem").isNotNull())
        .groupBy("problem")
        .count()
        .orderBy(F.col("count").desc())
    )
