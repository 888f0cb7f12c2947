"""What the online store keeps and returns for one card transaction, derived from the feature
declarations (pure: no I/O). The Redis adapter (`fraudit.online.redis_store`) runs the
atomic step; this module says which entity needs what, encodes the members it adds and
turns the step's answer back into the vector, with the reference implementation's own
functions, so the online engine computes nothing of its own.

Per entity, one sorted set scored by event time, one member per transaction:
- card: `txid|arrival|amount|merchant|category|lat|lon` (the windows and the sequence
  features need the amounts, places and merchants of the last 30 days);
- device, IP: `txid|arrival|card` (distinct cards);
- merchant: `txid|` (its features are counts only, answered by ZCOUNT, never a member list).
Identifiers cannot hold `|` (fraudit.validity.ID_PATTERN), so the encoding is unambiguous,
and every member starts with `txid|`: of equal event times the set orders members as the
features' cap ranks them (fraudit.features.reference.history_rank).

Each set keeps at most its entity's cap (fraudit.features.definitions.HISTORY_CAPS) plus
PENDING_SLACK members, the latest-dated; a step reads at most the cap. The slack keeps
exact what an abandoned attempt's member pushed out: a transaction that ABANDON removes
was never received, so the member below it must still be there.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from fraudit.features.definitions import (
    FEATURES,
    HISTORY_CAPS,
    MAX_WINDOW_SECONDS,
    Aggregate,
    CardSequence,
    Entity,
    Feature,
    WindowAggregate,
)
from fraudit.features.definitions import Sequence as SequenceKind
from fraudit.features.history import CardTransaction
from fraudit.features.reference import (
    Value,
    Vector,
    aggregate,
    entity_key,
    finite_or_missing,
    row_value,
    sequence_values,
)

SEPARATOR = "|"
# How much of the body's fingerprint the transaction record keeps (64 bits tell the bodies
# sent under one transaction_id apart; the record lives as long as the card's state).
OWNER_LENGTH = 16
# Members a set keeps beyond its cap: attempts on one entity that may still be abandoned
# (in flight at once). Past that many, an abandoned attempt can leave its entity one member
# short of the cap until the entity's next transactions.
PENDING_SLACK = 128


@dataclass(frozen=True)
class EntityPlan:
    """What the atomic step does for one entity."""

    entity: Entity
    # How far back the step reads (and, with the allowed lateness, keeps) this entity.
    lookback_seconds: int
    # At most this many of the entity's latest-dated transactions count (rule 8).
    cap: int
    # Counts only: the step answers ZCOUNT per window instead of the members.
    count_windows: tuple[int, ...] = ()

    @property
    def counts_only(self) -> bool:
        return bool(self.count_windows)


def plan_entities(
    features: Sequence[Feature] = FEATURES, caps: Mapping[Entity, int] = HISTORY_CAPS
) -> tuple[EntityPlan, ...]:
    """One plan per entity, from the declarations: the card always keeps 30 days (its
    sequence features look back that far); an entity whose features are all counts gets
    counts per window; the others get their members over their longest window. Each keeps
    at most its cap."""
    windows: dict[Entity, list[WindowAggregate]] = defaultdict(list)
    for feature in features:
        if isinstance(feature, WindowAggregate):
            windows[feature.entity].append(feature)
    plans = []
    for entity in Entity:
        own = windows.get(entity, [])
        if entity is Entity.CARD:
            plans.append(EntityPlan(entity, MAX_WINDOW_SECONDS, caps[entity]))
        elif own and all(f.aggregate is Aggregate.COUNT for f in own):
            spans = tuple(sorted({f.window_seconds for f in own}))
            plans.append(EntityPlan(entity, max(spans), caps[entity], spans))
        elif own:
            plans.append(EntityPlan(entity, max(f.window_seconds for f in own), caps[entity]))
    return tuple(plans)


PLANS = plan_entities()


def _card_tail(tx: CardTransaction) -> str:
    return SEPARATOR.join(
        (repr(tx.amount), tx.merchant, tx.category, repr(tx.merchant_lat), repr(tx.merchant_lon))
    )


def card_member(tx: CardTransaction, arrival: int) -> str:
    return SEPARATOR.join((tx.transaction_id, str(arrival), _card_tail(tx)))


def shared_member(tx: CardTransaction, arrival: int) -> str:
    return SEPARATOR.join((tx.transaction_id, str(arrival), tx.card))


def member_tail(plan: EntityPlan, tx: CardTransaction) -> str:
    """What follows `txid|arrival|` in this entity's member; empty for counts-only entities
    (their member is `txid|`). The atomic step assigns the arrival number (one
    counter for the store) and builds the member."""
    if plan.counts_only:
        return ""
    return _card_tail(tx) if plan.entity is Entity.CARD else tx.card


class Member(NamedTuple):
    """An earlier transaction as the features read it (fraudit.features.reference.Earlier),
    from a stored member: a tuple, since a request past a cap parses thousands of them.
    A device's or an IP's member holds the card only; fields its features never read
    carry the current transaction's values."""

    event_time: float
    card_arrival: int  # its position in its card's arrival order
    amount: float
    card: str
    merchant: str
    category: str
    merchant_lat: float
    merchant_lon: float


def _earlier(
    tx: CardTransaction, pairs: Sequence[tuple[str, float]], entity: Entity
) -> list[Member]:
    """The entity's members as the features read them, sorted by event time; the
    transaction's own member (a retry's) is skipped. One pass per entity: a request past a
    cap parses thousands."""
    own = tx.transaction_id + SEPARATOR
    out: list[Member] = []
    append = out.append
    if entity is Entity.CARD:
        card = tx.card
        for member, score in pairs:
            if member.startswith(own):
                continue
            _, arrival, amount, merchant, category, lat, lon = member.split(SEPARATOR)
            append(
                Member(
                    score,
                    int(arrival),
                    float(amount),
                    card,
                    merchant,
                    category,
                    float(lat),
                    float(lon),
                )
            )
    else:
        # Only the card is read from a device's or an IP's member (distinct cards); the
        # card's arrival, read by the previous-transaction rule only, is not parsed.
        for member, score in pairs:
            if member.startswith(own):
                continue
            append(
                Member(
                    score,
                    0,
                    tx.amount,
                    member.rsplit(SEPARATOR, 1)[1],
                    tx.merchant,
                    tx.category,
                    tx.merchant_lat,
                    tx.merchant_lon,
                )
            )
    out.sort(key=_by_time)
    return out


@dataclass(frozen=True)
class StoredState:
    """The atomic step's answer for one transaction: what its entities held before it."""

    arrival: int
    # Entity -> (member, event time) pairs within the plan's lookback.
    members: dict[Entity, list[tuple[str, float]]] = field(default_factory=dict)
    # Merchant-like entities: window seconds -> count.
    counts: dict[Entity, dict[int, int]] = field(default_factory=dict)


def vector_from_state(
    tx: CardTransaction, state: StoredState, features: Sequence[Feature] = FEATURES
) -> Vector:
    """The feature vector of `tx` from what the store held before it: the reference
    implementation's own functions over the returned members; counts-only entities from
    their window counts. The transaction itself is never among its own history. Members
    are sorted by event time once, so each window is a slice (the reference's in_window
    rule, found by bisection), not a filter over every member."""
    keys = {entity: entity_key(tx, entity) for entity in Entity}
    received: dict[Entity, list[Member]] = {}
    times: dict[Entity, list[float]] = {}
    for entity, pairs in state.members.items():
        if keys[entity] is not None:
            received[entity] = _earlier(tx, pairs, entity)
            times[entity] = [m.event_time for m in received[entity]]
    out: Vector = {}
    t = tx.event_time
    windowed: dict[tuple[Entity, int], list[Member]] = {}

    def window(entity: Entity, seconds: int) -> list[Member]:
        span = (entity, seconds)
        if span not in windowed:
            at = times.get(entity, [])
            # (t - w, t]: after the last member at or before t - w, up to t.
            windowed[span] = received.get(entity, [])[
                bisect_right(at, t - seconds) : bisect_right(at, t)
            ]
        return windowed[span]

    sequences: dict[SequenceKind, Value] | None = None
    for feature in features:
        if isinstance(feature, WindowAggregate):
            if keys[feature.entity] is None:
                out[feature.name] = None  # no device or no IP: the feature does not apply
            elif feature.entity in state.counts:
                out[feature.name] = float(state.counts[feature.entity][feature.window_seconds])
            else:
                members = window(feature.entity, feature.window_seconds)
                out[feature.name] = finite_or_missing(aggregate(feature, members))
        elif isinstance(feature, CardSequence):
            if sequences is None:
                sequences = sequence_values(tx, window(Entity.CARD, MAX_WINDOW_SECONDS))
            out[feature.name] = sequences[feature.kind]
        else:
            out[feature.name] = finite_or_missing(row_value(feature, tx))
    return out


def _by_time(member: Member) -> float:
    return member.event_time


@dataclass(frozen=True)
class StoreKeys:
    """Key names under one prefix (a deployment, or a test, owns its prefix). Every key
    starts with the prefix as a hash tag, `{prefix}`: in a Redis Cluster (ElastiCache
    Serverless runs in cluster mode only) they all hash to one slot, so a step over a
    transaction's card, merchant, device and IP keys is legal there. One slot lives on one
    shard: the store then has one shard's capacity (docs/FEATURES.md)."""

    prefix: str

    @property
    def namespace(self) -> str:
        """What every key of this prefix starts with."""
        return f"{{{self.prefix}}}"

    def idempotency(self, transaction_id: str) -> str:
        return f"{self.namespace}idem:{transaction_id}"

    def transaction(self, transaction_id: str) -> str:
        return f"{self.namespace}tx:{transaction_id}"

    @property
    def arrival(self) -> str:
        return f"{self.namespace}arrival"

    def fence(self, attempt: str) -> str:
        return f"{self.namespace}fence:{attempt}"

    @property
    def rebuilding(self) -> str:
        return f"{self.namespace}rebuilding"

    @property
    def attempts(self) -> str:
        """The register of attempts that counted a transaction and have not finished or
        abandoned it yet, scored by when they began (what the reaper judges)."""
        return f"{self.namespace}attempts"

    def entity(self, entity: Entity, key: str) -> str:
        return f"{self.namespace}{entity}:{key}"


def _exclusive(value: float) -> str:
    return f"({value!r}"


# The fixed keys of a BEGIN step; its entity sets follow.
_BEGIN_FIXED_KEYS = 6


@dataclass(frozen=True)
class Attempt:
    """What undoing one attempt needs: its transaction, its nonce and each entity set it
    counted the transaction in, with the member's tail there. The attempts register holds
    it as text (`register_text`) while the attempt is unfinished, so a reaper can undo an
    attempt whose process died (fraudit.online.reaper)."""

    transaction_id: str
    attempt: str
    sets: tuple[tuple[str, str], ...]  # (entity set key, member tail)

    @property
    def register_text(self) -> str:
        # Identifiers, tails and keys hold no control character (fraudit.validity).
        return "\n".join(
            (self.transaction_id, self.attempt, *(f"{key}\t{tail}" for key, tail in self.sets))
        )

    @classmethod
    def from_register(cls, text: str) -> Attempt:
        transaction_id, attempt, *sets = text.split("\n")
        pairs = tuple((key, tail) for key, _, tail in (s.partition("\t") for s in sets))
        return cls(transaction_id, attempt, pairs)

    def abandon(
        self,
        keys: StoreKeys,
        pending: str | None,
        fence_ms: int | None,
        *,
        judged_against: str = "",
    ) -> tuple[list[str], list[str]]:
        """KEYS and ARGV of the ABANDON step that undoes this attempt (only what the
        transaction record says it counted) and releases its pending claim; with
        `fence_ms`, it also fences the attempt for that long (its BEGIN may still run).
        `judged_against`: a reaper's undo, which leaves a transaction whose idempotency
        record starts with this prefix (answered) or with any other (a retry under way)."""
        return [
            keys.idempotency(self.transaction_id),
            keys.transaction(self.transaction_id),
            keys.fence(self.attempt or self.transaction_id),
            keys.attempts,
            *(key for key, _ in self.sets),
        ], [
            pending or "",
            self.transaction_id,
            self.attempt,
            "" if fence_ms is None else str(fence_ms),
            self.register_text if self.attempt else "",
            judged_against,
            *(tail for _, tail in self.sets),
        ]


@dataclass(frozen=True)
class BeginCall:
    keys: list[str]
    args: list[str]
    # The entity plans in the order of the step's answers.
    plans: tuple[EntityPlan, ...]
    # What ABANDON, FINISH and the reaper need to know of this call's attempt.
    undo: Attempt
    store_keys: StoreKeys

    @property
    def attempt(self) -> str:
        return self.undo.attempt

    def abandon(self, pending: str | None, fence_ms: int | None) -> tuple[list[str], list[str]]:
        """KEYS and ARGV of the ABANDON step that undoes this call's attempt (Attempt)."""
        return self.undo.abandon(self.store_keys, pending, fence_ms)


def begin_call(
    keys: StoreKeys,
    transaction_id: str,
    *,
    pending: str | None,
    idempotency_ttl_ms: int,
    state_ttl_seconds: int,
    lateness_seconds: float,
    tx: CardTransaction | None = None,
    read: bool = True,
    arrival: int | None = None,
    owner: str | None = None,
    attempt: str = "",
    plans: Sequence[EntityPlan] = PLANS,
) -> BeginCall:
    """The arguments of the BEGIN step: claim the idempotency record (when `pending` is
    given; the claim lives `idempotency_ttl_ms` unless finished), and for a card
    transaction count it in every entity it has and (when `read`) return what those
    entities held in their windows before it. `owner` (the body's fingerprint) tells a
    retry of the same transaction from a reuse of its transaction_id; `attempt` (a nonce
    per request) names what this request counted, for ABANDON and its fence; a live step
    that counts registers it (`Attempt`) until FINISH or ABANDON, for the reaper."""
    if SEPARATOR in attempt:
        raise ValueError(f"an attempt cannot hold {SEPARATOR!r}")
    present = tuple(p for p in plans if tx is not None and entity_key(tx, p.entity) is not None)
    call_keys = [
        keys.idempotency(transaction_id),
        keys.transaction(transaction_id),
        keys.arrival,
        keys.fence(attempt or transaction_id),
        keys.rebuilding,
        keys.attempts,
    ]
    score = repr(tx.event_time) if tx is not None else "0"
    args = [
        "1" if pending is not None else "0",
        pending or "",
        str(idempotency_ttl_ms),
        str(state_ttl_seconds),
        transaction_id,
        score,
        str(len(present)),
        "1" if read else "0",
        "" if arrival is None else str(arrival),
        (owner or "")[:OWNER_LENGTH],
        attempt,
    ]
    sets = []
    for plan in present:
        assert tx is not None
        sets.append(
            (keys.entity(plan.entity, str(entity_key(tx, plan.entity))), member_tail(plan, tx))
        )
    undo = Attempt(transaction_id, attempt, tuple(sets))
    # Registered by a live step that counts (not a replay, which has no attempt).
    args.append(undo.register_text if attempt and arrival is None else "")
    for plan, (set_key, tail) in zip(present, sets, strict=True):
        assert tx is not None
        t = tx.event_time
        call_keys.append(set_key)
        args += [
            "counts" if plan.counts_only else "members",
            _exclusive(t - plan.lookback_seconds),
            _exclusive(t - plan.lookback_seconds - lateness_seconds),
            tail,
            str(plan.cap),
            str(plan.cap + PENDING_SLACK),
            str(len(plan.count_windows)),
            *(_exclusive(t - w) for w in plan.count_windows),
        ]
    assert len(call_keys) == _BEGIN_FIXED_KEYS + len(present)
    return BeginCall(call_keys, args, present, undo, keys)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class BeginAnswer:
    # The idempotency record found (the transaction_id was seen), else None.
    seen: str | None = None
    state: StoredState | None = None
    # Whether this step counted the transaction (False: it already was).
    added: bool = False
    # The transaction_id was counted with another body, whose answer is no longer kept.
    reused: bool = False
    # The attempt was fenced by its own ABANDON (its client had given up): nothing done.
    fenced: bool = False
    # A rebuild is running: a live card transaction is refused, nothing done.
    rebuilding: bool = False


def parse_begin(answer: Sequence[object], call: BeginCall) -> BeginAnswer:
    status = _text(answer[0])
    if status == "seen":
        return BeginAnswer(seen=_text(answer[1]))
    if status == "reused":
        return BeginAnswer(reused=True)
    if status == "fenced":
        return BeginAnswer(fenced=True)
    if status == "rebuilding":
        return BeginAnswer(rebuilding=True)
    if len(answer) == 1:
        return BeginAnswer()
    arrival, added = int(_text(answer[1])), _text(answer[2]) == "1"
    members: dict[Entity, list[tuple[str, float]]] = {}
    counts: dict[Entity, dict[int, int]] = {}
    for plan, part in zip(call.plans, answer[3:], strict=False):
        assert isinstance(part, list)
        if plan.counts_only:
            counts[plan.entity] = dict(zip(plan.count_windows, (int(c) for c in part), strict=True))
        else:
            # (member, score) pairs, flat; float() reads a score's bytes as they come.
            pairs = iter(part)
            members[plan.entity] = [
                (m.decode() if isinstance(m, bytes) else str(m), float(score))
                for m, score in zip(pairs, pairs, strict=True)
            ]
    return BeginAnswer(state=StoredState(arrival, members, counts), added=added)
