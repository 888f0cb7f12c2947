"""The rules engine: typed compilation (line and column), precedence, shadow rules, lists
and their expiry, absent values, and the ruleset a running API refreshes in place."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudit.contracts import CardEvent, ScoredEvent
from fraudit.decisions import APPROVE, DECLINE, REVIEW
from fraudit.families import family
from fraudit.features.definitions import FEATURE_NAMES
from fraudit.rules.document import (
    PublishedList,
    PublishedRule,
    RulesetDocument,
    RulesetError,
)
from fraudit.rules.engine import CompiledRuleset, check_rule
from fraudit.rules.fields import fields_of, rule_inputs
from fraudit.rules.outcome import applied
from fraudit.rules.source import FileSource, LiveRuleset

pytestmark = pytest.mark.unit

CARDS, ULB = family("cards"), family("ulb")
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def rule(rule_id: str, expression: str, action: str = "decline", **extra) -> PublishedRule:
    return PublishedRule(
        rule_id=rule_id,
        version=extra.pop("version", 1),
        family=extra.pop("family", "cards"),
        state=extra.pop("state", "live"),
        action=action,
        expression=expression,
        reason=extra.pop("reason", f"{rule_id} fired"),
        **extra,
    )


def document(*rules: PublishedRule, lists: tuple[PublishedList, ...] = ()) -> RulesetDocument:
    return RulesetDocument(version="rs-1", published_at=NOW, rules=rules, lists=lists)


def compiled(*rules: PublishedRule, lists: tuple[PublishedList, ...] = ()) -> CompiledRuleset:
    return CompiledRuleset(document(*rules, lists=lists), [ULB, CARDS])


def blocked_cards(**entries: float | None) -> PublishedList:
    return PublishedList(name="blocked_cards", kind="card", version=4, entries=entries)


# --- refused before it can go live, with line and column -------------------------------------


@pytest.mark.parametrize(
    ("expression", "line", "column", "says"),
    [
        (
            "amount > 10.0 &&\n  card_cuont_10m >= 5",
            2,
            3,
            "undeclared reference to 'card_cuont_10m'",
        ),
        ("card_count_10m >= 'five'", 1, 16, "no matching overload"),
        ("card_count_10m >= 5.0", 1, 16, "counts are ints, write 5"),
        ("amount < 2", 1, 8, "amounts, probabilities and ratios are doubles, write 2.0"),
        ("amount > 1.0 &&\n (card_count_10m", 2, 17, "Syntax error"),
        ("amount + 1.0", 1, 1, "a rule must be true or false; this gives double"),
    ],
)
def test_a_rule_that_does_not_type_check_is_refused_naming_line_and_column(
    expression, line, column, says
):
    problems = check_rule(rule("r", expression), CARDS, [])
    assert problems, expression
    first = problems[0]
    assert (first.line, first.column) == (line, column)
    assert says in first.message
    assert f"rule r, line {line}, column {column}" in str(first)
    with pytest.raises(RulesetError) as refused:
        compiled(rule("r", expression))
    assert refused.value.problems


def test_a_ulb_rule_cannot_read_card_features():
    (problem,) = check_rule(rule("r", "card_count_10m >= 5", family="ulb"), ULB, [])
    assert "undeclared reference to 'card_count_10m'" in problem.message


def test_in_list_must_name_a_published_list_in_quotes():
    (unknown,) = check_rule(rule("r", "in_list('stolen', card_token)"), CARDS, [blocked_cards()])
    assert "no list named 'stolen'" in unknown.message
    assert (unknown.line, unknown.column) == (1, 9)
    computed = check_rule(rule("r", "in_list(merchant_id, card_token)"), CARDS, [blocked_cards()])
    assert any("must be a list's name in quotes" in p.message for p in computed)
    # The name inside a string literal is not a call.
    assert not check_rule(rule("r", "merchant_id == \"in_list('x', y)\""), CARDS, [])


def test_every_card_feature_is_a_rule_field_with_the_type_a_rule_compares_it_as():
    fields = {f.name: f.type for f in fields_of(CARDS)}
    assert set(FEATURE_NAMES) <= set(fields)
    assert len(FEATURE_NAMES) == 42
    assert fields["card_count_10m"] == "int"
    assert fields["card_amount_sum_10m"] == "double"
    assert fields["card_new_merchant_30d"] == "bool"
    assert fields["category"] == "string"
    assert not set(FEATURE_NAMES) & {f.name for f in fields_of(ULB)}


# --- what a rule reads of an event -------------------------------------------------------------


def card_event(**features: float | None) -> ScoredEvent:
    vector: dict[str, float | None] = dict.fromkeys(FEATURE_NAMES, 0.0)
    vector.update(features)
    return ScoredEvent(
        event_id="e1",
        timestamp=NOW,
        scored_at=NOW,
        user_id="u1",
        source="test",
        amount=1.5,
        fraud_prediction=0,
        fraud_proba=0.02,
        anomaly_score=1.0,
        decision=APPROVE,
        model_version="m",
        policy_version="p",
        card=CardEvent(
            card_token="tok_1",
            merchant_id="m_9",
            merchant_category="misc_net",
            merchant_lat=40.0,
            merchant_lon=-74.0,
            store_arrival=1,
        ),
        features=vector,
    )


def test_rule_inputs_are_typed_and_absent_values_are_left_out():
    inputs = rule_inputs(
        card_event(
            card_count_10m=6.0,
            category=8.0,
            card_new_merchant_30d=1.0,
            card_seconds_since_previous=None,
        )
    )
    assert inputs["card_count_10m"] == 6
    assert isinstance(inputs["card_count_10m"], int)
    assert inputs["category"] == "misc_net"
    assert inputs["card_new_merchant_30d"] is True
    assert "card_seconds_since_previous" not in inputs
    assert "device_id" not in inputs  # the event had no device
    assert inputs["card_token"] == "tok_1"
    assert inputs["fraud_proba"] == 0.02


def test_a_card_testing_burst_fires_with_the_values_it_saw():
    ruleset = compiled(rule("card_testing", "card_count_10m >= 5 && amount < 2.0"))
    rules = ruleset.for_family(CARDS)
    hits, faults = rules.evaluate(rule_inputs(card_event(card_count_10m=5.0)), NOW.timestamp())
    assert [h.rule_id for h in hits] == ["card_testing"]
    assert not faults
    assert hits[0].values == {"amount": 1.5, "card_count_10m": 5}
    hits, _ = rules.evaluate(rule_inputs(card_event(card_count_10m=4.0)), NOW.timestamp())
    assert not hits


def test_an_absent_value_stops_the_rule_that_needs_it_and_no_other():
    ruleset = compiled(
        rule("fast", "card_speed_from_previous_kmh > 900.0", "review"),
        rule("burst", "card_count_10m >= 5"),
        rule("either", "card_count_10m >= 5 || card_speed_from_previous_kmh > 900.0"),
    )
    event = card_event(card_count_10m=7.0, card_speed_from_previous_kmh=None)
    hits, faults = ruleset.for_family(CARDS).evaluate(rule_inputs(event), NOW.timestamp())
    assert sorted(h.rule_id for h in hits) == ["burst", "either"]  # || absorbs the absence
    assert faults == []  # "fast" reads the absent speed: it does not fire, and is no fault
    # With the value there, the same rules run as one program and all say.
    present = card_event(card_count_10m=7.0, card_speed_from_previous_kmh=1200.0)
    hits, faults = ruleset.for_family(CARDS).evaluate(rule_inputs(present), NOW.timestamp())
    assert sorted(h.rule_id for h in hits) == ["burst", "either", "fast"]
    assert not faults


def test_a_run_time_fault_in_one_rule_leaves_the_others_deciding():
    ruleset = compiled(
        rule("broken", "card_count_10m / 0 > 1"), rule("burst", "card_count_10m >= 5")
    )
    hits, faults = ruleset.for_family(CARDS).evaluate(
        rule_inputs(card_event(card_count_10m=9.0)), NOW.timestamp()
    )
    assert [h.rule_id for h in hits] == ["burst"]
    assert [f.rule_id for f in faults] == ["broken"]


# --- lists -------------------------------------------------------------------------------------


def test_list_entries_count_until_they_expire():
    expiry = NOW.timestamp() + 60
    ruleset = compiled(
        rule("blocked", "in_list('blocked_cards', card_token)", "block"),
        lists=(blocked_cards(tok_1=expiry, tok_2=None),),
    )
    rules = ruleset.for_family(CARDS)
    inputs = rule_inputs(card_event())
    assert [h.rule_id for h in rules.evaluate(inputs, expiry - 1)[0]] == ["blocked"]
    assert rules.evaluate(inputs, expiry)[0] == []  # expired at its expiry
    assert ruleset.list_versions() == {"blocked_cards": 4}


# --- precedence --------------------------------------------------------------------------------


def _decide(ruleset: CompiledRuleset, event: ScoredEvent, model: str = APPROVE):
    hits, faults = ruleset.for_family(CARDS).evaluate(rule_inputs(event), NOW.timestamp())
    thresholds = {APPROVE: 0.0, REVIEW: 0.5, DECLINE: 0.9}

    def model_decides(p: float) -> str:
        return DECLINE if p >= 0.9 else REVIEW if p >= 0.5 else APPROVE

    return applied(ruleset.version, {}, hits, faults, thresholds[model], model_decides)


def test_precedence_block_then_allow_then_decline_then_the_model_raised_by_review():
    block = rule("block", "card_token == 'tok_1'", "block", priority=50)
    allow = rule("allow", "merchant_id == 'm_9'", "allow", priority=1)
    decline = rule("decline", "amount < 2.0", "decline")
    review = rule("review", "amount < 2.0", "review")
    event = card_event()
    record, decision = _decide(compiled(block, allow, decline, review), event)
    assert (decision, record.decided_by) == (DECLINE, "block")  # block beats an allow
    record, decision = _decide(compiled(allow, decline, review), event, model=DECLINE)
    assert (decision, record.decided_by) == (APPROVE, "allow")  # allow beats everything else
    record, decision = _decide(compiled(decline, review), event)
    assert (decision, record.decided_by) == (DECLINE, "decline")
    record, decision = _decide(compiled(review), event)
    assert (decision, record.decided_by) == (REVIEW, "review")  # raises an approval...
    record, decision = _decide(compiled(review), event, model=DECLINE)
    assert (decision, record.decided_by) == (DECLINE, None)  # ...never lowers a decline
    assert record.model_decision == DECLINE
    assert [f.rule_id for f in record.fired] == ["review"]


def test_an_adjustment_moves_the_probability_before_the_thresholds():
    up = rule("risky_mcc", "merchant_category == 'misc_net'", "adjust", adjustment=0.6)
    record, decision = _decide(compiled(up), card_event())
    assert (decision, record.decided_by, record.adjustment) == (REVIEW, "risky_mcc", 0.6)
    down = rule("trusted", "merchant_id == 'm_9'", "adjust", adjustment=-0.3)
    record, decision = _decide(compiled(down), card_event(), model=REVIEW)
    assert (decision, record.decided_by) == (APPROVE, "trusted")


def test_within_one_action_the_lowest_priority_is_named():
    first = rule("b_second", "amount < 2.0", priority=5)
    second = rule("a_first", "amount < 2.0", priority=9)
    record, _ = _decide(compiled(first, second), card_event())
    assert record.decided_by == "b_second"


ACTIONS = st.sampled_from(["block", "allow", "decline", "review", "adjust"])


@settings(max_examples=150, deadline=None)
@given(
    live=st.lists(st.tuples(ACTIONS, st.booleans()), max_size=4),
    shadow=st.lists(st.tuples(ACTIONS, st.booleans()), min_size=1, max_size=4),
    model=st.sampled_from([APPROVE, REVIEW, DECLINE]),
)
def test_a_shadow_rule_never_changes_a_decision(live, shadow, model):
    def make(prefix: str, specs, state: str) -> list[PublishedRule]:
        return [
            rule(
                f"{prefix}{i}",
                "amount < 2.0" if fires else "amount > 2.0",
                action,
                state=state,
                adjustment=0.5 if action == "adjust" else None,
            )
            for i, (action, fires) in enumerate(specs)
        ]

    live_rules = make("live", live, "live")
    with_shadow = _decide(
        compiled(*live_rules, *make("shadow", shadow, "shadow")), card_event(), model
    )
    without = _decide(compiled(*live_rules), card_event(), model)
    assert with_shadow[1] == without[1]
    assert with_shadow[0].decided_by == without[0].decided_by
    # What the shadow rules would have done is recorded beside it.
    fired_shadow = [a for a, fires in shadow if fires]
    assert len(with_shadow[0].shadow_fired) == len(fired_shadow)


# --- the document ------------------------------------------------------------------------------


def test_a_malformed_document_is_refused_with_where():
    with pytest.raises(RulesetError, match="malformed ruleset document"):
        RulesetDocument.from_json(b'{"version": "x"}')
    with pytest.raises(ValueError, match="adjustment is given for, and only for"):
        rule("r", "amount > 1.0", "adjust")
    with pytest.raises(ValueError, match="rules published twice"):
        document(rule("r", "amount > 1.0"), rule("r", "amount > 2.0"))
    with pytest.raises(RulesetError, match="unknown families"):
        compiled(rule("r", "amount > 1.0", family="nope"))


# --- refreshed in place ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _publish(path, *rules: PublishedRule, version: str) -> None:
    doc = RulesetDocument(version=version, published_at=NOW, rules=rules)
    path.write_text(doc.to_json())
    stamp = os.stat(path).st_mtime_ns + 1_000_000 * len(version)
    os.utime(path, ns=(stamp, stamp))  # a distinct modification time per publication


def test_an_edit_is_served_after_the_refresh_interval_and_a_broken_one_never(tmp_path, caplog):
    path = tmp_path / "ruleset.json"
    clock = Clock()
    live = LiveRuleset(FileSource(path), [ULB, CARDS], refresh_seconds=30, clock=clock)
    assert live.current().version == "none"  # nothing published: no rules
    _publish(path, rule("burst", "card_count_10m >= 5"), version="rs-1")
    clock.now = 29.0
    assert live.current().version == "none"  # not checked before the interval
    clock.now = 30.0
    assert live.current().version == "rs-1"
    path.write_text(
        json.dumps(
            {
                "version": "rs-2",
                "published_at": NOW.isoformat(),
                "rules": [
                    {
                        "rule_id": "bad",
                        "version": 1,
                        "family": "cards",
                        "state": "live",
                        "action": "decline",
                        "expression": "card_count_10m >= 'x'",
                        "reason": "r",
                    }
                ],
            }
        )
    )
    clock.now = 60.0
    assert live.current().version == "rs-1"  # the last good version serves on
    assert live.failures == 1
    assert "line 1, column 16" in (live.last_error or "")
    assert any("RulesetRefreshFailed" in str(getattr(r, "fields", "")) for r in caplog.records)
    _publish(path, rule("burst", "card_count_10m >= 6"), version="rs-3")
    clock.now = 90.0
    assert live.current().version == "rs-3"
    assert live.last_error is None


def test_an_api_does_not_start_on_a_document_that_does_not_compile(tmp_path):
    path = tmp_path / "ruleset.json"
    _publish(path, rule("bad", "amont > 1.0"), version="rs-1")
    with pytest.raises(RulesetError, match="undeclared reference to 'amont'"):
        LiveRuleset(FileSource(path), [ULB, CARDS])


@pytest.mark.parametrize(
    ("expression", "is_strict"),
    [
        ("card_speed_from_previous_kmh > 900.0", True),
        ("in_list('bad_devices', device_id)", True),
        ("amount * 2.0 > card_amount_sum_1h", True),
        ("device_id == 'a || b ? c'", True),  # inside a string: no operator
        ("card_count_10m >= 5 || card_speed_from_previous_kmh > 900.0", False),
        ("amount > 1.0 && device_id == 'x'", False),
        ("device_id == 'x' ? true : false", False),
        ("has(x.y)", False),
        ("[1, 2].exists(v, v > card_count_10m)", False),
    ],
)
def test_a_rule_is_strict_when_nothing_in_it_can_absorb_an_absent_value(expression, is_strict):
    """A strict rule that reads an absent value faults without being run; the others run."""
    from fraudit.rules.engine import strict

    assert strict(expression) is is_strict
