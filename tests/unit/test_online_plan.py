"""The online store's pure parts: what each entity keeps (derived from the declarations),
the vector from a store answer, the idempotency records."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from fraudit.features.definitions import DAY, HOUR, MAX_WINDOW_SECONDS, Entity
from fraudit.features.reference import compute
from fraudit.online import idempotency
from fraudit.online.plan import (
    PLANS,
    StoredState,
    StoreKeys,
    begin_call,
    card_member,
    shared_member,
    vector_from_state,
)
from tests.support.card_histories import random_history

pytestmark = pytest.mark.unit


def test_each_entity_keeps_what_its_declared_features_need():
    plans = {p.entity: p for p in PLANS}
    assert plans[Entity.CARD].lookback_seconds == MAX_WINDOW_SECONDS
    assert not plans[Entity.CARD].counts_only
    assert plans[Entity.MERCHANT].count_windows == (HOUR, DAY)  # counts only: ZCOUNT
    for shared in (Entity.DEVICE, Entity.IP):
        assert plans[shared].lookback_seconds == 7 * DAY
        assert not plans[shared].counts_only


def _state_before(history, index):
    """What a store would hold before history[index]: its entities' earlier members."""
    tx = history[index]
    earlier = history[:index]
    members = {
        Entity.CARD: [
            (card_member(e, e.arrival), e.event_time) for e in earlier if e.card == tx.card
        ],
    }
    for entity, attribute in ((Entity.DEVICE, "device"), (Entity.IP, "ip")):
        own = getattr(tx, attribute)
        if own is not None:
            members[entity] = [
                (shared_member(e, e.arrival), e.event_time)
                for e in earlier
                if getattr(e, attribute) == own
                and tx.event_time - 7 * DAY < e.event_time <= tx.event_time
            ]
    window = lambda w: sum(  # noqa: E731
        1
        for e in earlier
        if e.merchant == tx.merchant and tx.event_time - w < e.event_time <= tx.event_time
    )
    counts = {Entity.MERCHANT: {HOUR: window(HOUR), DAY: window(DAY)}}
    return StoredState({e: tx.arrival for e in Entity}, members, counts)


def test_the_vector_from_a_store_answer_is_the_references():
    history = random_history(400, seed=5, cards=20, days=5)
    expected = compute(history)
    for index in range(0, 400, 7):
        tx = history[index]
        assert vector_from_state(tx, _state_before(history, index)) == expected[tx.transaction_id]


def test_a_transaction_is_never_in_its_own_history():
    history = random_history(50, seed=2, cards=3, days=1)
    tx = history[-1]
    state = _state_before(history, len(history) - 1)
    with_itself = replace(
        state,
        members={
            **state.members,
            Entity.CARD: [
                *state.members[Entity.CARD],
                (card_member(tx, tx.arrival), tx.event_time),
            ],
        },
    )
    assert vector_from_state(tx, with_itself) == vector_from_state(tx, state)


def _begin(tx, **options):
    """The BEGIN call for `tx` under prefix `p:`, with 1 s TTLs and no lateness."""
    options.setdefault("pending", None)
    return begin_call(
        StoreKeys("p:"),
        tx.transaction_id,
        idempotency_ttl_ms=1,
        state_ttl_seconds=1,
        lateness_seconds=0,
        tx=tx,
        **options,
    )


def test_window_bounds_are_sent_exactly_as_python_computes_them():
    (tx,) = random_history(1, seed=1)
    tx = replace(tx, event_time=1_700_000_000.123457)
    call = _begin(tx)
    card = call.steps[0]
    assert card.args[1] == repr(tx.event_time)
    assert f"({tx.event_time - MAX_WINDOW_SECONDS!r}" in card.args
    assert card.keys[0] == f"{{p:#card:{tx.card}}}"


def test_every_step_touches_one_hash_slot_and_claims_spread_over_the_buckets():
    """A Redis Cluster refuses a script whose keys are in two slots (CROSSSLOT): the claim's
    keys share its bucket's tag, each entity step's keys share the entity's tag. Claims of
    different transaction_ids land in different buckets, so no shard holds them all."""
    from fraudit.online.plan import CLAIM_BUCKETS

    history = random_history(400, seed=3, cards=20, days=1)
    buckets = set()
    for tx in history:
        tx = replace(tx, device="dev-1", ip="203.0.113.9")
        call = _begin(tx, pending="Pabc.a1", attempt="a1")
        for keys in (call.keys, *(step.keys for step in call.steps)):
            tags = {key[key.index("{") : key.index("}") + 1] for key in keys}
            assert len(tags) == 1, keys
        buckets.add(call.keys[0][: call.keys[0].index("}") + 1])
        assert {s.keys[0] for s in call.steps} == set(call.undo.sets)
    assert len(buckets) > CLAIM_BUCKETS // 2


def test_a_prefix_that_would_change_the_hash_tags_is_refused():
    for prefix in ("a{b", "a}b", "a#b"):
        with pytest.raises(ValueError, match="prefix"):
            StoreKeys(prefix)


def test_idempotency_records_compare_bodies_by_content_not_by_spelling():
    a = {"metadata": {"transaction_id": "t1", "user_id": "u"}, "data": "1,2"}
    b = {"data": "1,2", "metadata": {"user_id": "u", "transaction_id": "t1"}}
    assert idempotency.body_hash(a) == idempotency.body_hash(b)
    assert idempotency.body_hash(a) != idempotency.body_hash({**a, "data": "1,3"})
    digest = idempotency.body_hash(a)
    seen = idempotency.parse_record(idempotency.done(digest, ANSWER), "t1")
    assert seen.same_body(digest)
    assert seen.answer == ANSWER
    waiting = idempotency.parse_record(idempotency.pending(digest, "a1"), "t1")
    assert waiting.answer is None
    assert waiting.same_body(digest)
    assert not waiting.same_body(idempotency.body_hash({**a, "data": "1,3"}))


ANSWER = {
    "schema_version": 1,
    "event_id": "t1",
    "anomaly_detector": {"score": 0.012345678901234567},
    "fraud_classifier": {"pred_proba": 0.00012345678901234567, "prediction": 0},
    "decision": "approve",
    "model_version": "cards-20261203T000000Z",
    "policy_version": "cards-20261203T000000Z-p1",
    "rules": None,
    "reasons": None,
}


def test_a_done_record_keeps_the_answer_compactly_and_gives_it_back_exactly():
    """The answer's values in field order, without the event_id its key names (129
    characters for this answer; 285 as `D<32 hex>\\n<JSON object>` under a 36-character
    id); the record written before this format is still read (it may be in the store for
    a TTL after an upgrade)."""
    from fraudit.contracts import PredictResponse

    digest = idempotency.body_hash({"x": 1})
    record = idempotency.done(digest, ANSWER)
    assert "event_id" not in record
    assert "t1" not in record
    assert len(record) < len(json.dumps(ANSWER, separators=(",", ":")))
    back = idempotency.parse_record(record, "t1").answer
    assert back == ANSWER
    assert list(back) == list(PredictResponse.model_fields)  # in the response's order
    full = hashlib.sha256(b"body").hexdigest()
    earlier = "D" + full + "\n" + json.dumps(ANSWER, separators=(",", ":"))
    seen = idempotency.parse_record(earlier, "t1")
    assert seen.answer == ANSWER
    assert seen.same_body(full[: idempotency.DIGEST_LENGTH])
    # A record kept before answers carried rules and reasons: they come back null.
    before_rules = record[: record.rindex(",null,null]")] + "]"
    assert idempotency.parse_record(before_rules, "t1").answer == ANSWER


def test_a_claim_outlives_any_request_deadline_but_not_by_much():
    from fraudit.online.redis_store import CLAIM_TTL_SECONDS
    from fraudit.settings import Settings

    field = Settings.model_fields["api_deadline_seconds"]
    longest = next(m.le for m in field.metadata if getattr(m, "le", None) is not None)
    assert longest < CLAIM_TTL_SECONDS <= 60


def test_an_attempt_round_trips_through_its_register_entry_and_abandon_names_its_members():
    """What the reaper reads back from the register is what the request's own ABANDON would
    have been given: the same keys, the same event time."""
    from fraudit.online.plan import Attempt

    (tx,) = random_history(1, seed=2)
    tx = replace(tx, device="dev-1", ip="203.0.113.9")
    keys = StoreKeys("p:")
    call = _begin(tx, pending="Pabc.a1", attempt="a1", owner="abc")
    back = Attempt.from_register(call.undo.register_text)
    assert back == call.undo
    assert list(back.sets) == [step.keys[0] for step in call.steps]
    assert back.release(keys, "Pabc.a1") == call.undo.release(keys, "Pabc.a1")
    assert call.args[8] == call.undo.register_text  # registered by the live claim
    replay = _begin(tx, arrivals=dict.fromkeys(Entity, 5))
    assert replay.args[8] == ""  # a rebuild's replay is never registered
    assert [step.args[3] for step in replay.steps] == ["5"] * len(replay.steps)
