"""Backtests on Spark over stored decisions in the real PostgreSQL: a hand-built history
gives hand-computed figures; and the API's own rule hits are replayed exactly, with the list
versions each event saw."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from fraudit.backtest import engine
from fraudit.backtest.candidate import NO_SHADOW_SCORES, Candidate
from fraudit.backtest.extract import extract, list_history
from fraudit.backtest.report import report_lines
from fraudit.backtest.run import BacktestPlan, run_backtest
from fraudit.contracts import ShadowScores
from fraudit.db.schema import apply_schema
from fraudit.features.definitions import FEATURE_NAMES
from fraudit.labels.contract import Label
from fraudit.labels.store import store_labels
from fraudit.rules.document import PublishedRule, RulesetDocument, RuleState, empty_ruleset
from fraudit.rules.source import writer_of
from fraudit.rules.store import ListEntry, RuleStore
from fraudit.scoring.policy import DecisionPolicy
from fraudit.stream.batch import collect_for_load
from fraudit.stream.load import PostgresSink
from tests.support.stream_records import card_event, raw_frame, record

pytestmark = pytest.mark.integration

DAY1 = datetime(2026, 1, 5, 12, tzinfo=UTC)
DAY2 = datetime(2026, 1, 6, 12, tzinfo=UTC)
AS_OF = datetime(2026, 3, 31, tzinfo=UTC)
# The two days of HISTORY, its labels as of AS_OF, k = 2.
PLAN = BacktestPlan(
    start=datetime(2026, 1, 5, tzinfo=UTC),
    end=datetime(2026, 1, 7, tzinfo=UTC),
    as_of=AS_OF,
    maturity_days=30,
    review_capacity=2,
    created_by="test",
)
POLICY = DecisionPolicy(
    version="p-candidate", decline_threshold=0.8, review_threshold=0.5, model_version="m-1"
)


def _rule(rule_id, state, action, expression):
    return PublishedRule(
        rule_id=rule_id,
        version=1,
        family="cards",
        state=state,
        action=action,
        priority=10,
        expression=expression,
        reason=rule_id,
    )


CANDIDATE_RULES = RulesetDocument(
    version="rs-candidate",
    published_at=DAY1,
    rules=(
        _rule("card_testing", "live", "decline", "amount < 5.0 && card_count_1h >= 3"),
        _rule("big_amount", "shadow", "review", "amount >= 100.0"),
    ),
)

# (event, when, card, amount, probability, live decision, card_count_1h,
#  label (value, source, reported_at) or None)
HISTORY = [
    ("e1", DAY1, "A", 2.0, 0.10, "approve", 5, ("fraud", "chargeback", "2026-02-01")),
    ("e2", DAY1, "A", 3.0, 0.60, "review", 6, None),
    ("e3", DAY1, "B", 50.0, 0.85, "decline", 1, ("fraud", "chargeback", "2026-02-10")),
    ("e4", DAY1, "C", 20.0, 0.55, "review", 0, ("genuine", "review", "2026-01-06")),
    ("e5", DAY2, "D", 4.0, 0.05, "approve", 3, ("genuine", "manual", "2026-01-20")),
    ("e6", DAY2, "E", 100.0, 0.30, "approve", 0, ("fraud", "chargeback", "2026-02-15")),
    ("e7", DAY2, "B", 500.0, 0.90, "decline", 0, None),
    ("e8", DAY2, "F", 1.0, 0.02, "approve", 2, ("fraud", "chargeback", "2026-04-02")),
]


def _stored_history(url: str, spark, shadow: dict[str, float] | None = None) -> None:
    """HISTORY loaded through the sink, with its labels; `shadow`: the probability a
    candidate model ("m-2") recorded in shadow, by event."""
    records, labels = [], []
    for i, (event_id, when, card, amount, p, decision, count, label) in enumerate(HISTORY):
        features = dict.fromkeys(FEATURE_NAMES)
        features["card_count_1h"] = float(count)
        made = card_event(
            i,
            event_id=event_id,
            timestamp=when,
            scored_at=when + timedelta(seconds=1),
            amount=amount,
            fraud_proba=p,
            decision=decision,
            features=features,
            rules=None,
        )
        made = made.model_copy(update={"card": made.card.model_copy(update={"card_token": card})})
        if shadow and event_id in shadow:
            scored = ShadowScores(
                model_version="m-2",
                policy_version="p-2",
                fraud_proba=shadow[event_id],
                anomaly_score=0.0,
                decision=POLICY.decide(shadow[event_id], 0.0),
            )
            made = made.model_copy(update={"shadow": scored})
        records.append(record(made.model_dump_json(exclude_none=True), i))
        if label is not None:
            value, source, reported = label
            labels.append(
                Label(
                    event_id=event_id,
                    label=value,
                    source=source,
                    reported_at=f"{reported}T00:00:00Z",
                )
            )
    # Another producer's event the stream loads but that does not read as a scored event.
    odd = json.loads(records[0][0])
    odd["event_id"], odd["card"]["store_arrival"] = "odd", 0
    records.append(record(json.dumps(odd), len(records)))
    sink = PostgresSink(url)
    try:
        assert sink.load(collect_for_load(raw_frame(spark, records))).inserted == len(HISTORY) + 1
    finally:
        sink.close()
    with psycopg.connect(url, autocommit=True) as conn:
        store_labels(conn, labels, "test")


def test_a_backtest_on_a_hand_built_history_gives_hand_computed_figures(database, spark):
    _stored_history(database, spark)
    candidate = Candidate(
        family="cards", ruleset=CANDIDATE_RULES.to_json(), policy=POLICY.to_json()
    )
    with psycopg.connect(database, autocommit=True) as conn:
        report = run_backtest(conn, spark, candidate, PLAN)
        (kept,) = conn.execute("SELECT report FROM fraud_backtest_runs").fetchone()
    assert kept["configurations"] == json.loads(json.dumps(report["configurations"]))
    assert report["decisions"] == 8
    (unreadable,) = report["unreadable"]
    assert unreadable["count"] == 1
    assert unreadable["problem"].startswith("card.store_arrival")
    # e8's chargeback came after the as-of date: it does not count.
    assert report["frauds"] == 3
    assert report["fraud_amount"] == 152.0
    live = report["configurations"]["live"]["totals"]
    cand = report["configurations"]["candidate"]["totals"]
    assert (live["approve"], live["review"], live["decline"]) == (4, 2, 2)
    assert (cand["approve"], cand["review"], cand["decline"]) == (2, 1, 5)
    # Live declines: e3 fraud, e7 never labelled: unknown, never genuine.
    assert (live["declined_fraud"], live["declined_genuine"], live["declined_unknown"]) == (1, 0, 1)
    assert live["decline_precision"] == 1.0
    assert live["decline_recall"] == pytest.approx(1 / 3)
    # Live reviews: e2 unlabelled but matured (genuine), e4 labelled genuine.
    assert (live["reviewed_fraud"], live["reviewed_genuine"], live["reviewed_unknown"]) == (0, 2, 0)
    assert live["review_precision"] == 0.0
    # Candidate declines: e1 and e3 fraud; e5 genuine (labelled); e2 genuine too: it went
    # through (a review) and matured without a report, so declining it is a false positive;
    # e7 unknown (declined for real: it never had the chance of a chargeback).
    assert (cand["declined_fraud"], cand["declined_genuine"], cand["declined_unknown"]) == (2, 2, 1)
    assert cand["decline_precision"] == 0.5
    assert cand["decline_recall"] == pytest.approx(2 / 3)
    assert (live["fraud_amount_declined"], cand["fraud_amount_declined"]) == (50.0, 52.0)
    assert (live["genuine_amount_declined"], cand["genuine_amount_declined"]) == (0.0, 7.0)
    assert (live["genuine_customers_declined"], cand["genuine_customers_declined"]) == (0, 2)
    # Card precision at 2: day 1 top cards B and A, both compromised; day 2 B (no label)
    # and E (fraud): 1/2. Mean 0.75, both ways (no rule adjusts a score).
    days = report["configurations"]["candidate"]["days"]
    assert [d["card_precision_at_k"] for d in days] == [1.0, 0.5]
    assert live["card_precision_at_k"] == cand["card_precision_at_k"] == 0.75
    rules = {r["rule_id"]: r for r in report["rules"]}
    testing = rules["card_testing"]
    # e1 fraud; e2 and e5 genuine (e2: a review that matured without a report).
    assert (testing["hits"], testing["fraud"], testing["genuine"], testing["unknown"]) == (
        3,
        1,
        2,
        0,
    )
    assert testing["marginal_fraud"] == 1
    assert testing["precision"] == pytest.approx(1 / 3)
    assert testing["state"] == "live"
    assert testing["action"] == "decline"
    big = rules["big_amount"]  # shadow: counted, never enforced
    assert (big["hits"], big["fraud"], big["unknown"], big["marginal_fraud"]) == (2, 1, 1, 1)
    text = "\n".join(report_lines(report))
    assert "declines: outcome unknown" in text
    assert "card_testing" in text


def test_with_the_shadow_model_the_candidate_decides_on_the_scores_recorded_in_shadow(
    database, spark
):
    # The candidate model's probabilities, recorded in shadow; e7 has none (the candidate
    # did not answer in time): it is left out of both configurations, and counted.
    _stored_history(
        database,
        spark,
        shadow={"e1": 0.85, "e2": 0.20, "e3": 0.90, "e4": 0.10, "e5": 0.05, "e6": 0.60, "e8": 0.02},
    )
    policy = replace(POLICY, version="p-2", model_version="m-2")
    candidate = Candidate(
        family="cards",
        ruleset=empty_ruleset(DAY1).to_json(),
        policy=policy.to_json(),
        shadow_model=True,
    )
    with psycopg.connect(database, autocommit=True) as conn:
        report = run_backtest(conn, spark, candidate, PLAN)
    assert report["decisions"] == 7
    left_out = {u["problem"]: u["count"] for u in report["unreadable"]}
    assert left_out[NO_SHADOW_SCORES] == 1
    assert sum(left_out.values()) == 2  # and the other producer's event
    assert report["other_model_version"] == 0  # every score is the candidate's own model's
    assert report["frauds"] == 3  # e1, e3, e6 (e8's chargeback came after the as-of date)
    live = report["configurations"]["live"]["totals"]
    cand = report["configurations"]["candidate"]["totals"]
    assert (live["approve"], live["review"], live["decline"]) == (4, 2, 1)
    assert (cand["approve"], cand["review"], cand["decline"]) == (4, 1, 2)
    assert (cand["declined_fraud"], cand["declined_genuine"]) == (2, 0)  # e1, e3
    assert cand["decline_recall"] == pytest.approx(2 / 3)
    assert live["decline_recall"] == pytest.approx(1 / 3)
    assert (cand["reviewed_fraud"], cand["reviewed_genuine"]) == (1, 0)  # e6
    assert (live["reviewed_fraud"], live["reviewed_genuine"]) == (0, 2)  # e2, e4
    assert (live["fraud_amount_declined"], cand["fraud_amount_declined"]) == (50.0, 52.0)
    assert report["candidate"]["shadow_model"] is True
    assert "left out of both: 2" in "\n".join(report_lines(report))


def test_the_backtest_replays_the_apis_rule_hits_with_the_list_versions_each_event_saw(
    database, spark, api_server, kinesis_emulator, ruleset_file, serving_root, tmp_path
):
    from tests.support.card_histories import random_history

    conn = psycopg.connect(database, autocommit=True)
    apply_schema(conn)
    store = RuleStore(conn)
    history = random_history(80, seed=7, cards=12, days=1, late_share=0.0)
    listed = sorted({tx.card for tx in history})[:3]
    store.create_list("bad_cards", "card", actor="ana", why="test")
    store.add_entries("bad_cards", [ListEntry(c) for c in listed[:2]], actor="ana", why="t")
    for rule_id, action, expression in (
        ("busy_card", "review", "card_count_1h >= 2"),
        ("listed_card", "block", "in_list('bad_cards', card_token)"),
        ("small_amount", "decline", "amount < 5.0"),
    ):
        store.create(
            rule_id=rule_id,
            family_name="cards",
            action=action,
            expression=expression,
            reason=rule_id,
            author="ana",
            why="test",
        )
        store.promote(rule_id, RuleState.SHADOW, actor="ana", why="test")
    store.promote("busy_card", RuleState.LIVE, actor="ana", approver="bo", why="go")
    store.promote("listed_card", RuleState.LIVE, actor="ana", approver="bo", why="go")
    published = store.publish(writer_of(str(ruleset_file), lambda: None), "test", actor="ana")
    try:
        _replay_the_apis_hits(
            store,
            published,
            (history, listed),
            spark,
            (api_server, kinesis_emulator, database, serving_root, tmp_path),
        )
    finally:  # the session's API serves no rule of this test's afterwards
        ruleset_file.unlink(missing_ok=True)
        conn.close()


def _replay_the_apis_hits(store, published, sent_cards, spark, places):
    """Cards scored by the API under `published`, loaded, extracted and replayed."""
    import requests

    from tests.integration.conftest import RULESET_REFRESH_SECONDS
    from tests.support.api import JSON, read_stream
    from tests.support.card_histories import card_payload

    history, listed = sent_cards
    api_server, kinesis_emulator, database, serving_root, tmp_path = places
    from fraudit.api.wiring import load_policy
    from fraudit.families import family
    from fraudit.settings import Settings

    conn = store.conn
    time.sleep(RULESET_REFRESH_SECONDS + 1)

    run = uuid.uuid4().hex[:8]
    shift = time.time() - 3600 - max(tx.event_time for tx in history)
    sent = []
    for tx in sorted(history, key=lambda t: t.arrival):
        body = card_payload(tx, shift)
        body["metadata"]["transaction_id"] = f"bt-{run}-{tx.transaction_id}"
        response = requests.post(f"{api_server}/predict", json=body, headers=JSON, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["rules"]["ruleset_version"] == published.version
        sent.append(body["metadata"]["transaction_id"])
    ours = [e for e in read_stream(kinesis_emulator.client()) if e["event_id"] in set(sent)]
    assert len(ours) == len(sent)
    sink = PostgresSink(database)
    try:
        batch = [record(json.dumps(e), i) for i, e in enumerate(ours)]
        assert sink.load(collect_for_load(raw_frame(spark, batch))).inserted == len(sent)
    finally:
        sink.close()

    # After the fact, a third card joins the list: a replay must not see it where the
    # events did not.
    store.add_entries("bad_cards", [ListEntry(listed[2])], actor="ana", why="later")
    later = RulesetDocument(
        version="rs-later",
        published_at=datetime.now(UTC),
        rules=tuple(store.published_rules()),
        lists=tuple(store.published_lists()),
    )
    policy = load_policy(Settings(_env_file=None, model_dir=str(serving_root)), family("cards"))
    start = datetime.now(UTC) - timedelta(days=3)
    end = datetime.now(UTC) + timedelta(days=1)
    found = extract(conn, tmp_path, start, end, datetime.now(UTC))
    decisions = spark.read.parquet(str(found.decisions))

    def replayed(current_lists: bool) -> dict[str, object]:
        candidate = Candidate(
            family="cards",
            ruleset=later.to_json(),
            policy=policy.to_json(),
            current_lists=current_lists,
            lists=list_history(conn, ["bad_cards"], start, end),
        )
        rows = engine.replay(decisions, candidate).collect()
        return {r.event_id: r for r in rows if r.event_id in set(sent)}

    as_seen = replayed(current_lists=False)
    assert len(as_seen) == len(sent)
    fired = 0
    for row in as_seen.values():
        assert sorted(row.fired) == sorted(row.live_fired), row.event_id
        assert row.candidate_decision == row.live_decision, row.event_id
        fired += bool(row.fired)
    assert fired > 0
    listed_hits = {e for e, r in as_seen.items() if "listed_card" in r.fired}
    assert listed_hits  # the list rule fired on the first two cards
    now_listed = {e for e, r in replayed(current_lists=True).items() if "listed_card" in r.fired}
    assert now_listed > listed_hits  # with today's list, the third card's events too
