"""What the online store keeps and returns for one card transaction, derived from the feature
declarations (pure: no I/O). The Redis adapter (`fraudit.online.redis_store`) runs the
steps (a claim, then one atomic step per entity); this module says which entity needs
what, encodes the members it adds and turns the steps' answers back into the vector, with
the reference implementation's own functions, so the online engine computes nothing of its
own.

Per entity, one sorted set scored by event time, one member per transaction:
- card: `txid|arrival|amount|merchant|category|lat|lon` (the windows and the sequence
  features need the amounts, places and merchants of the last 30 days);
- device, IP: `txid|arrival|card` (distinct cards);
- merchant: `txid|arrival` (its features are counts only, answered by ZCOUNT, never a
  member list).
The arrival is the transaction's number in that entity's own order (rule 1 of
docs/FEATURES.md), given by the entity's own counter in its own slot.
Identifiers cannot hold `|` (fraudit.validity.ID_PATTERN), so the encoding is unambiguous,
and every member starts with `txid|`: of equal event times the set orders members as the
features' cap ranks them (fraudit.features.reference.history_rank).

Each set keeps at most its entity's cap (fraudit.features.definitions.HISTORY_CAPS) plus
PENDING_SLACK members, the latest-dated; a step reads at most the cap. The slack keeps
exact what an abandoned attempt's member pushed out: a transaction that ABANDON removes
was never received, so the member below it must still be there.
"""

from __future__ import annotations

import zlib
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import NamedTuple

from fraudit.features.definitions import (
    FEATURES,
    HISTORY_CAPS,
    MAX_WINDOW_SECONDS,
    Aggregate,
    CardSequence,
    CardVector,
    Entity,
    Feature,
    Value,
    WindowAggregate,
)
from fraudit.features.definitions import Sequence as SequenceKind
from fraudit.features.history import CardTransaction
from fraudit.features.reference import (
    aggregate,
    entity_key,
    finite_or_missing,
    row_value,
    sequence_values,
)

SEPARATOR = "|"
# The member of an entity's set that is its arrival counter (scripts.ENTITY).
COUNTER_MEMBER = "#"
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
    (their member is `txid|arrival`). The entity's step assigns the arrival number (the
    entity's own counter) and builds the member."""
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
    """What the entity steps answered for one transaction: what its entities held before
    it, and its position in each entity's own arrival order (rule 1)."""

    arrivals: dict[Entity, int]
    # Entity -> (member, event time) pairs within the plan's lookback.
    members: dict[Entity, list[tuple[str, float]]] = field(default_factory=dict)
    # Merchant-like entities: window seconds -> count.
    counts: dict[Entity, dict[int, int]] = field(default_factory=dict)

    @property
    def arrival(self) -> int:
        """Its position in its card's order."""
        return self.arrivals[Entity.CARD]

    def numbered(self, tx: CardTransaction) -> CardTransaction:
        """`tx` with the arrival numbers the store gave it."""
        return replace(
            tx, arrival=self.arrival, arrivals={str(e): n for e, n in self.arrivals.items()}
        )


def vector_from_state(
    tx: CardTransaction, state: StoredState, features: Sequence[Feature] = FEATURES
) -> CardVector:
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
    out: CardVector = {}
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


# Claim buckets: a transaction_id's idempotency record, transaction record, fences and
# attempt entry live in one of these slots, chosen by a hash of the id, so the claims of a
# busy deployment spread over every shard (docs/SCALING.md).
CLAIM_BUCKETS = 256
# Characters a prefix cannot hold: they would change which keys share a hash tag.
_TAG_CHARACTERS = "{}#"


@dataclass(frozen=True)
class StoreKeys:
    """Key names under one prefix (a deployment, or a test, owns its prefix). Each key has
    a hash tag naming what it belongs to, so a step touches one slot of a Redis Cluster
    (ElastiCache Serverless runs in cluster mode only) and the store spreads over all
    shards:
    - an entity's keys `{prefix#card:<id>}` (its sorted set, whose member `#` is its
      arrival counter: scripts.ENTITY) and `...}f:<attempt>` (an abandoned attempt's
      fence there);
    - a transaction_id's keys in its claim bucket `{prefix#b<NN>}`: `idem:<id>` (the
      idempotency record), `tx:<id>` (the transaction record), `fence:<attempt>`, and the
      bucket's `attempts` register and `rebuilding` marker."""

    prefix: str

    def __post_init__(self) -> None:
        if any(c in self.prefix for c in _TAG_CHARACTERS):
            raise ValueError(f"a store prefix cannot hold any of {_TAG_CHARACTERS!r}")

    @property
    def namespace(self) -> str:
        """What every key of this prefix starts with."""
        return f"{{{self.prefix}#"

    def bucket_tag(self, bucket: int) -> str:
        return f"{self.namespace}b{bucket:02x}}}"

    def bucket(self, transaction_id: str) -> str:
        """The claim bucket's hash tag of a transaction_id."""
        return self.bucket_tag(zlib.crc32(transaction_id.encode()) % CLAIM_BUCKETS)

    @cached_property
    def buckets(self) -> tuple[str, ...]:
        return tuple(self.bucket_tag(b) for b in range(CLAIM_BUCKETS))

    def idempotency(self, transaction_id: str) -> str:
        return f"{self.bucket(transaction_id)}idem:{transaction_id}"

    def transaction(self, transaction_id: str) -> str:
        return f"{self.bucket(transaction_id)}tx:{transaction_id}"

    def fence(self, transaction_id: str, attempt: str) -> str:
        return f"{self.bucket(transaction_id)}fence:{attempt or transaction_id}"

    @staticmethod
    def rebuilding(bucket: str) -> str:
        """A rebuild's marker in one bucket (it raises one in every bucket)."""
        return f"{bucket}rebuilding"

    @staticmethod
    def attempts_in(bucket: str) -> str:
        """One bucket's register of attempts that counted a transaction and have not
        finished or abandoned it yet, scored by when they began (what the reaper judges)."""
        return f"{bucket}attempts"

    def attempts(self, transaction_id: str) -> str:
        return self.attempts_in(self.bucket(transaction_id))

    def entity(self, entity: Entity, key: str) -> str:
        return f"{self.namespace}{entity}:{key}}}"

    @staticmethod
    def entity_fence(entity_key: str, attempt: str) -> str:
        return f"{entity_key}f:{attempt}"


def _exclusive(value: float) -> str:
    return f"({value!r}"


Step = tuple[list[str], list[str]]  # one script's KEYS and ARGV


@dataclass(frozen=True)
class Attempt:
    """What undoing one attempt needs: its transaction, its nonce, the body's fingerprint,
    its event time and each entity set it counted the transaction in. A bucket's attempts
    register holds it as text (`register_text`) while the attempt is unfinished, so a
    reaper can undo an attempt whose process died (fraudit.online.reaper)."""

    transaction_id: str
    attempt: str
    owner: str  # the body's fingerprint ('' without a transaction_id)
    score: str  # the event time, as the entity steps were given it
    sets: tuple[str, ...]  # entity set keys

    @property
    def register_text(self) -> str:
        # Identifiers and keys hold no control character (fraudit.validity).
        return "\n".join((self.transaction_id, self.attempt, self.owner, self.score, *self.sets))

    @classmethod
    def from_register(cls, text: str) -> Attempt:
        transaction_id, attempt, owner, score, *sets = text.split("\n")
        return cls(transaction_id, attempt, owner, score, tuple(sets))

    def prepare(self, keys: StoreKeys, *, done: str, hold: str) -> Step:
        """A reaper's first step, in the claim's bucket (scripts.REAP_PREPARE): leave a
        transaction whose idempotency record starts with `done` (answered) or with anything
        else (a retry under way); else hold the claim (`hold`) and say whether this attempt
        counted the transaction."""
        return [
            keys.idempotency(self.transaction_id),
            keys.transaction(self.transaction_id),
            keys.attempts(self.transaction_id),
        ], [self.attempt, self.register_text, hold, str(CLAIM_HOLD_MS), done]

    def undo_in(self, set_key: str, fence_ms: int | None, remove: bool) -> Step:
        """The undo in one entity's slot (scripts.ABANDON_ENTITY): the transaction's member
        removed (`remove`), the attempt fenced there (`fence_ms`: its step may still run)."""
        return [set_key, StoreKeys.entity_fence(set_key, self.attempt or self.transaction_id)], [
            self.transaction_id,
            self.score,
            "" if fence_ms is None else str(fence_ms),
            "1" if remove else "0",
        ]

    def release(self, keys: StoreKeys, claim: str | None, fence_ms: int | None = None) -> Step:
        """The last step of an undo, in the bucket (scripts.ABANDON_RELEASE): the
        transaction record gone if it names this attempt, the entry off the register, the
        claim released if it still is `claim`; with `fence_ms`, the attempt fenced there."""
        return [
            keys.idempotency(self.transaction_id),
            keys.transaction(self.transaction_id),
            keys.attempts(self.transaction_id),
            keys.fence(self.transaction_id, self.attempt),
        ], [
            self.attempt,
            self.register_text if self.attempt else "",
            claim or "",
            "" if fence_ms is None else str(fence_ms),
        ]


# How long a reaper holds a claim while it undoes an attempt across slots (a retry waits).
CLAIM_HOLD_MS = 10_000


@dataclass(frozen=True)
class EntityStep:
    """One entity's step (scripts.ENTITY) for one transaction."""

    plan: EntityPlan
    keys: list[str]
    args: list[str]


@dataclass(frozen=True)
class BeginCall:
    """A card request's (or a claim's) steps: the CLAIM in the transaction_id's bucket,
    then one step per entity, each in its own slot."""

    keys: list[str]  # the CLAIM's
    args: list[str]
    steps: tuple[EntityStep, ...]
    # What ABANDON, FINISH and the reaper need to know of this call's attempt.
    undo: Attempt
    store_keys: StoreKeys
    pending: str | None = None  # the claim it writes

    @property
    def attempt(self) -> str:
        return self.undo.attempt

    @property
    def plans(self) -> tuple[EntityPlan, ...]:
        return tuple(s.plan for s in self.steps)


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
    arrivals: Mapping[Entity, int] | None = None,
    owner: str | None = None,
    attempt: str = "",
    plans: Sequence[EntityPlan] = PLANS,
) -> BeginCall:
    """The steps of one request: claim the idempotency record (when `pending` is given; the
    claim lives `idempotency_ttl_ms` unless finished), and for a card transaction count it
    in every entity it has and (when `read`) return what those entities held in their
    windows before it. `owner` (the body's fingerprint) tells a retry of the same
    transaction from a reuse of its transaction_id; `attempt` (a nonce per request) names
    what this request counted, for ABANDON and its fences; a live claim that counts
    registers it (`Attempt`) until FINISH or ABANDON, for the reaper. `arrivals`: a
    rebuild's replay, with the numbers each entity first gave the transaction."""
    if SEPARATOR in attempt or "\n" in attempt:
        raise ValueError(f"an attempt cannot hold {SEPARATOR!r} or a line break")
    present = tuple(p for p in plans if tx is not None and entity_key(tx, p.entity) is not None)
    score = repr(tx.event_time) if tx is not None else "0"
    fingerprint = (owner or "")[:OWNER_LENGTH]
    sets = tuple(
        keys.entity(plan.entity, str(entity_key(tx, plan.entity)))
        for plan in present
        if tx is not None
    )
    undo = Attempt(transaction_id, attempt, fingerprint, score, sets)
    replay = arrivals is not None
    claim_keys = [
        keys.idempotency(transaction_id),
        keys.transaction(transaction_id),
        keys.fence(transaction_id, attempt),
        keys.rebuilding(keys.bucket(transaction_id)),
        keys.attempts(transaction_id),
    ]
    claim_args = [
        "1" if pending is not None else "0",
        pending or "",
        str(idempotency_ttl_ms),
        str(state_ttl_seconds),
        "1" if tx is not None else "0",
        "1" if replay else "0",
        fingerprint,
        attempt,
        # Registered by a live claim that counts (not a replay, which has no attempt).
        undo.register_text if attempt and not replay else "",
    ]
    steps = []
    for plan, set_key in zip(present, sets, strict=True):
        assert tx is not None
        t = tx.event_time
        given = "" if arrivals is None else str(arrivals[plan.entity])
        steps.append(
            EntityStep(
                plan,
                [set_key, keys.entity_fence(set_key, attempt or transaction_id)],
                [
                    transaction_id,
                    score,
                    "1" if read else "0",
                    given,
                    "counts" if plan.counts_only else "members",
                    _exclusive(t - plan.lookback_seconds),
                    _exclusive(t - plan.lookback_seconds - lateness_seconds),
                    member_tail(plan, tx),
                    str(plan.cap),
                    str(plan.cap + PENDING_SLACK),
                    str(state_ttl_seconds),
                    str(len(plan.count_windows)),
                    *(_exclusive(t - w) for w in plan.count_windows),
                ],
            )
        )
    return BeginCall(claim_keys, claim_args, tuple(steps), undo, keys, pending)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class BeginAnswer:
    # The idempotency record found (the transaction_id was seen), else None.
    seen: str | None = None
    state: StoredState | None = None
    # Whether this attempt counted the transaction (False: an earlier one had).
    added: bool = False
    # The transaction_id was counted with another body, whose answer is no longer kept.
    reused: bool = False
    # The attempt was fenced by its own ABANDON (its client had given up): nothing done.
    fenced: bool = False
    # A rebuild is running: a live card transaction is refused, nothing done.
    rebuilding: bool = False


# What a CLAIM answers when the entity steps are to run: this attempt counts the
# transaction, or an earlier attempt did (a retry: its entity steps read, and count it
# only where it is missing).
COUNT, COUNTED = "count", "counted"


def parse_claim(answer: Sequence[object]) -> tuple[str, BeginAnswer | None]:
    """The CLAIM's status, and the request's answer when no entity step follows."""
    status = _text(answer[0])
    if status == "seen":
        return status, BeginAnswer(seen=_text(answer[1]))
    if status == "reused":
        return status, BeginAnswer(reused=True)
    if status == "fenced":
        return status, BeginAnswer(fenced=True)
    if status == "rebuilding":
        return status, BeginAnswer(rebuilding=True)
    if status in (COUNT, COUNTED):
        return status, None
    return status, BeginAnswer()


def parse_entities(claim: str, answers: Sequence[Sequence[object]], call: BeginCall) -> BeginAnswer:
    """The request's answer from its CLAIM's status and its entity steps' answers (each
    `{arrival, added, data}`; none fenced)."""
    arrivals: dict[Entity, int] = {}
    members: dict[Entity, list[tuple[str, float]]] = {}
    counts: dict[Entity, dict[int, int]] = {}
    for step, answer in zip(call.steps, answers, strict=True):
        plan = step.plan
        arrivals[plan.entity] = int(_text(answer[0]))
        if len(answer) < 3:
            continue
        part = answer[2]
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
    return BeginAnswer(state=StoredState(arrivals, members, counts), added=claim == COUNT)
