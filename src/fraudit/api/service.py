"""The predict service. The planning (validation, decision, event and response shapes) is
pure; the service runs it around the two I/O steps, scoring and publishing.

Invariants:
- a 200 is only ever sent for an event that is on the stream;
- a score is only ever a model's: scoring failures are 503s, never defaults.
"""

from __future__ import annotations

import logging
import math
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from fraudit.contracts import (
    CARD_SCHEMA_VERSION,
    SCHEMA_VERSION,
    AnomalyResult,
    CardEvent,
    CardPredictRequest,
    ClassifierResult,
    PredictRequest,
    PredictResponse,
    ScoredEvent,
    ValidationClock,
)
from fraudit.deadline import Deadline, no_deadline
from fraudit.features.definitions import Entity, feature_set_version
from fraudit.features.history import CardTransaction
from fraudit.features.reference import Vector
from fraudit.online import idempotency
from fraudit.online.plan import Attempt, BeginAnswer, BeginCall, vector_from_state
from fraudit.online.store import Abandon, Recorded, Store, StoreUnavailable
from fraudit.publishing import KinesisPublisher, PublishOutcome
from fraudit.publishing.kinesis_producer import MAX_PARTITION_KEY_LENGTH, MAX_RECORD_BYTES
from fraudit.scoring.base import CardVector, Scorer, Scores, ScoringUnavailable
from fraudit.scoring.policy import DecisionPolicy
from fraudit.ulb_vector import FeatureVector
from fraudit.validity import DEFAULT_MAX_EVENT_AGE

log = logging.getLogger("fraudit.api")
FEATURE_SET_VERSION = feature_set_version()


@dataclass(frozen=True)
class ApiResult:
    status: int
    body: dict[str, Any]
    # For the request log: never features or card data.
    log: dict[str, Any] = field(default_factory=dict)


def error(
    status: int, code: str, message: str, details: list[dict[str, str]] | None = None
) -> ApiResult:
    body: dict[str, Any] = {"error": code, "message": message}
    if details:
        body["details"] = details
    return ApiResult(status, body, {"error": code})


def _field(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(body)"


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """Every bad field, by dotted path, with a message a client developer can act on."""
    details = []
    for item in exc.errors(include_url=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        details.append({"field": _field(item["loc"]), "message": message})
    return details


ParsedRequest = PredictRequest | CardPredictRequest


def parse_request(payload: object, clock: ValidationClock) -> ParsedRequest | ApiResult:
    """A card transaction (schema version 2: a `transaction` object) or a ULB vector
    (schema version 1: `data`)."""
    if not isinstance(payload, dict):
        return error(
            400,
            "invalid_request",
            "the body must be a JSON object with 'metadata' and either 'transaction' (a card "
            "transaction) or 'data' (a ULB vector)",
        )
    contract: type[ParsedRequest] = (
        CardPredictRequest if "transaction" in payload else PredictRequest
    )
    try:
        return contract.model_validate(payload, context=clock)
    except ValidationError as exc:
        details = validation_details(exc)
        return error(
            400,
            "invalid_request",
            f"{len(details)} invalid field(s): " + ", ".join(d["field"] for d in details),
            details,
        )


@dataclass(frozen=True)
class CardContext:
    """What the online store said about a card transaction: its vector and its arrival
    number in each entity's order."""

    features: Vector
    arrivals: dict[Entity, int]


def decide(
    request: ParsedRequest,
    scores: Scores,
    policy: DecisionPolicy,
    event_id: str,
    scored_at: datetime,
    card: CardContext | None = None,
) -> tuple[PredictResponse, ScoredEvent]:
    """The answer and the stream event for one scored transaction (pure). The endpoint's raw
    probability is calibrated here: the thresholds, the answer and the event all carry the
    probability of fraud at the production rate."""
    fraud_proba = policy.fraud_probability(scores.fraud_proba)
    decision = policy.decide(fraud_proba, scores.anomaly_score)
    prediction = 1 if policy.predicts_fraud(fraud_proba) else 0
    schema = CARD_SCHEMA_VERSION if isinstance(request, CardPredictRequest) else SCHEMA_VERSION
    response = PredictResponse(
        schema_version=schema,
        event_id=event_id,
        anomaly_detector=AnomalyResult(score=scores.anomaly_score),
        fraud_classifier=ClassifierResult(pred_proba=fraud_proba, prediction=prediction),
        decision=decision,
        model_version=policy.model_version,
        policy_version=policy.version,
    )
    meta = request.metadata
    extra: dict[str, Any] = {}
    if isinstance(request, CardPredictRequest):
        assert card is not None
        t = request.transaction
        extra = {
            "card": CardEvent(
                card_token=t.card_token,
                merchant_id=t.merchant_id,
                merchant_category=t.merchant_category,
                merchant_lat=t.merchant_lat,
                merchant_lon=t.merchant_lon,
                store_arrival=card.arrivals[Entity.CARD],
                store_arrivals={str(e): n for e, n in card.arrivals.items()},
            ),
            "features": card.features,
            "feature_set_version": FEATURE_SET_VERSION,
        }
    event = ScoredEvent(
        schema_version=schema,
        event_id=event_id,
        timestamp=meta.timestamp,
        scored_at=scored_at,
        user_id=meta.user_id,
        source=meta.source,
        amount=request.amount,
        fraud_prediction=prediction,
        fraud_proba=fraud_proba,
        anomaly_score=scores.anomaly_score,
        decision=decision,
        model_version=policy.model_version,
        policy_version=policy.version,
        ip_address=meta.ip_address,
        device_info=meta.device_info,
        geo=meta.geo,
        **extra,
    )
    return response, event


def encode_event(event: ScoredEvent) -> tuple[bytes, str]:
    """Kinesis record data and partition key (user_id: one user's events stay in order)."""
    return event.model_dump_json(exclude_none=True).encode(), event.user_id


def score_problem(scores: Scores) -> str | None:
    """Why a model's answer cannot be decided on (never replaced by a made-up score)."""
    if not (math.isfinite(scores.fraud_proba) and 0.0 <= scores.fraud_proba <= 1.0):
        return "the classifier returned no usable probability for this transaction"
    if not math.isfinite(scores.anomaly_score):
        return "the anomaly detector returned a non-finite score for this transaction"
    return None


def record_problem(data: bytes, key: str) -> str | None:
    """Why Kinesis would refuse this record as too large (the request's own size)."""
    if len(data) + len(key.encode()) > MAX_RECORD_BYTES or len(key) > MAX_PARTITION_KEY_LENGTH:
        return f"the scored event exceeds Kinesis's {MAX_RECORD_BYTES}-byte record limit"
    return None


def stream_unavailable(event_id: str, outcome: PublishOutcome) -> ApiResult:
    """The documented 503: which dependency, what happened to the event, what to do."""
    if outcome.unknown:
        message = (
            "the transaction was scored, but the event stream did not confirm the event "
            "within the deadline: it may or may not be recorded; retry with the same "
            "transaction_id (a repeat is recorded once)"
        )
    else:
        message = (
            "the transaction was scored but the event stream is unavailable: nothing was "
            "recorded; retry with the same transaction_id"
        )
    body = {
        "error": "stream_unavailable",
        "message": message,
        "event_id": event_id,
        "recorded": "unknown" if outcome.unknown else "no",
    }
    return ApiResult(503, body, {"error": "stream_unavailable", "event_id": event_id})


def scoring_unavailable(message: str) -> ApiResult:
    result = error(503, "scoring_unavailable", f"{message}; nothing was recorded, retry later")
    # What the online store counted is undone before the answer; if that fails, the item
    # says "unknown" instead (PredictService._settle).
    result.body["recorded"] = "no"
    return result


def store_unavailable(event_id: str | None, recorded: Recorded) -> ApiResult:
    if recorded == "no":
        what = "nothing was scored or recorded"
    else:
        what = (
            "nothing was scored; the store did not answer in time, so the transaction may "
            "have been counted in its history"
        )
    body: dict[str, Any] = {
        "error": "store_unavailable",
        "message": f"the online store (Redis) is unavailable or too slow: {what}; retry "
        "with the same transaction_id",
        "recorded": recorded,
    }
    if event_id:
        body["event_id"] = event_id
    return ApiResult(503, body, {"error": "store_unavailable", "recorded": recorded})


def conflict(transaction_id: str) -> ApiResult:
    return error(
        409,
        "transaction_id_conflict",
        f"transaction_id {transaction_id!r} was already sent with a different body; a repeat "
        "must be byte-for-byte the same request (send a new transaction_id for a new "
        "transaction)",
    )


def reused(transaction_id: str) -> ApiResult:
    return error(
        409,
        "transaction_id_reused",
        f"transaction_id {transaction_id!r} names a transaction counted earlier with a "
        "different body, whose answer is no longer kept; send a new transaction_id for a "
        "new transaction",
    )


def still_in_progress(event_id: str) -> ApiResult:
    body = {
        "error": "in_progress",
        "message": "a request with this transaction_id is still being answered; retry with "
        "the same transaction_id",
        "event_id": event_id,
    }
    return ApiResult(503, body, {"error": "in_progress"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_event_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class CardModel:
    """The card family as the API scores it: its endpoints (or in-process models) and its
    decision policy."""

    scorer: Scorer[CardVector]
    policy: DecisionPolicy


@dataclass
class _Item:
    """One valid transaction on its way through a request."""

    index: int
    request: ParsedRequest
    event_id: str
    digest: str | None  # the body's fingerprint when the client gave a transaction_id
    tx: CardTransaction | None = None  # a card transaction as the feature engines see it
    call: BeginCall | None = None
    answer: BeginAnswer | None = None
    card: CardContext | None = None

    # A nonce per request: names what this attempt counted and claimed, for ABANDON.
    attempt: str = field(default_factory=lambda: secrets.token_hex(6))

    @property
    def pending(self) -> str | None:
        return None if self.digest is None else idempotency.pending(self.digest, self.attempt)

    @property
    def is_card(self) -> bool:
        return isinstance(self.request, CardPredictRequest)


class PredictService:
    def __init__(
        self,
        scorer: Scorer[FeatureVector],
        publisher: KinesisPublisher,
        policy: DecisionPolicy,
        *,
        store: Store,
        cards: CardModel | None = None,
        max_batch: int = 500,
        max_event_age: timedelta = DEFAULT_MAX_EVENT_AGE,
        clock: Callable[[], datetime] = _utcnow,
        new_event_id: Callable[[], str] = _new_event_id,
    ) -> None:
        self.scorer = scorer
        self.publisher = publisher
        self.policy = policy
        self.store = store
        self.cards = cards
        self.max_batch = max_batch
        self.max_event_age = max_event_age
        self._clock = clock
        self._new_event_id = new_event_id

    def health(self) -> dict[str, Any]:
        """Cheap: configuration only, no call to the endpoints or the stream."""
        out: dict[str, Any] = {
            "status": "ok",
            "schema_version": SCHEMA_VERSION,
            "model_version": self.policy.model_version,
            "policy_version": self.policy.version,
            "stream": self.publisher.stream_name,
            "scorer": type(self.scorer).__name__,
        }
        if self.cards is not None:
            out["card_model_version"] = self.cards.policy.model_version
            out["feature_set_version"] = FEATURE_SET_VERSION
        return out

    def _validation_clock(self) -> ValidationClock:
        # One instant per request: the time window is judged against the scored_at the
        # event carries, as the stream judges it.
        return ValidationClock(self._clock(), self.max_event_age)

    def predict(self, payload: object, deadline: Deadline | None = None) -> ApiResult:
        deadline = deadline or no_deadline()
        clock = self._validation_clock()
        parsed = parse_request(payload, clock)
        if isinstance(parsed, ApiResult):
            return parsed
        results: list[dict[str, Any] | None] = [None]
        self._score_and_publish([(0, parsed, payload)], results, clock.now, deadline)
        (result,) = results
        assert result is not None
        status = result.pop("status")
        logged = {"event_id": result.get("event_id"), "decision": result.get("decision")}
        if "error" in result:
            logged["error"] = result["error"]
        return ApiResult(status, result, {k: v for k, v in logged.items() if v is not None})

    def predict_batch(self, payload: object, deadline: Deadline | None = None) -> ApiResult:
        deadline = deadline or no_deadline()
        items = payload.get("transactions") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            return error(
                400,
                "invalid_request",
                "the body must be a JSON object with a non-empty 'transactions' list",
            )
        if len(items) > self.max_batch:
            return error(
                400,
                "batch_too_large",
                f"{len(items)} transactions; at most {self.max_batch} per batch",
            )
        clock = self._validation_clock()
        results: list[dict[str, Any] | None] = [None] * len(items)
        valid: list[tuple[int, ParsedRequest, object]] = []
        seen_ids: set[str] = set()
        for index, item in enumerate(items):
            parsed = parse_request(item, clock)
            if isinstance(parsed, ApiResult):
                results[index] = {"status": parsed.status, **parsed.body}
                continue
            transaction_id = parsed.metadata.transaction_id
            if transaction_id is not None and transaction_id in seen_ids:
                repeat = error(
                    400,
                    "duplicate_in_batch",
                    f"transaction_id {transaction_id!r} appears earlier in this batch",
                )
                results[index] = {"status": 400, **repeat.body}
                continue
            if transaction_id is not None:
                seen_ids.add(transaction_id)
            valid.append((index, parsed, item))
        if valid:
            self._score_and_publish(valid, results, clock.now, deadline)
        statuses = [r["status"] for r in results if r is not None]
        log = {
            "batch": len(items),
            "ok": statuses.count(200),
            "invalid": sum(1 for s in statuses if 400 <= s < 500),
            "unavailable": statuses.count(503),
        }
        return ApiResult(200, {"results": results}, log)

    # --- the steps of a request ----------------------------------------------------------

    def _items(self, valid: list[tuple[int, ParsedRequest, object]]) -> list[_Item]:
        items = []
        for index, request, payload in valid:
            given = request.metadata.transaction_id
            digest = idempotency.body_hash(payload) if given is not None else None
            items.append(_Item(index, request, given or self._new_event_id(), digest))
        return items

    def _begin(self, items: list[_Item], deadline: Deadline) -> dict[int, StoreUnavailable]:
        """Claim each transaction_id and count each card transaction (a claim, then the
        entity steps: two round trips, fraudit.online.redis_store);
        items that need neither (a ULB vector without transaction_id) skip the store and
        go on whatever the store does. Returns the items the store failed, by index."""
        store = self.store
        for item in items:
            if isinstance(item.request, CardPredictRequest):
                item.tx = item.request.history_record(item.event_id, 0)
            if item.digest is None and item.tx is None:
                continue
            item.call = store.begin_call(
                item.event_id,
                pending=item.pending,
                tx=item.tx,
                owner=item.digest,
                attempt=item.attempt,
            )
        calls = [(item, item.call) for item in items if item.call is not None]
        if not calls:
            return {}
        try:
            answers = store.begin_many([call for _, call in calls], deadline)
        except StoreUnavailable as exc:
            log.warning("online store unavailable: %s", exc)
            if exc.recorded == "unknown" and not exc.settled:
                # The steps may have run, or may still run: fence and undo them, so that
                # "nothing was recorded" is true whichever comes first.
                exc = self._fence(
                    [Abandon(call, item.pending, fence=True) for item, call in calls], exc
                )
            return {item.index: exc for item, _ in calls}
        failed: dict[int, StoreUnavailable] = {}
        for (item, _), answer in zip(calls, answers, strict=True):
            if isinstance(answer, StoreUnavailable):
                log.warning("online store refused a step: %s", answer)
                failed[item.index] = answer
                continue
            item.answer = answer
            if answer.state is not None and item.tx is not None:
                tx = answer.state.numbered(item.tx)
                item.card = CardContext(vector_from_state(tx, answer.state), answer.state.arrivals)
        return failed

    def _fence(self, undo: list[Abandon], failure: StoreUnavailable) -> StoreUnavailable:
        """Abandon attempts whose BEGIN answer never came: the failure to report, with
        `recorded` "no" once the fence is up, else still "unknown"."""
        try:
            self.store.abandon_many(undo)
        except StoreUnavailable as exc:
            log.error("could not fence %d attempts after a store timeout: %s", len(undo), exc)
            return failure
        return StoreUnavailable(str(failure), "no")

    def _repeat(self, item: _Item, record: str, deadline: Deadline) -> dict[str, Any]:
        """The answer to a transaction_id seen before: the first answer, a 409 for another
        body, or a 503 while the first is still in progress (after waiting for it)."""
        seen = idempotency.parse_record(record, item.event_id)
        if seen.answer is None and item.digest is not None and seen.same_body(item.digest):
            try:
                later = self.store.wait_for_answer(item.event_id, deadline)
            except StoreUnavailable as exc:
                log.warning("online store unavailable: %s", exc)
                # The first request's fate is not known here.
                return {"status": 503, **store_unavailable(item.event_id, "unknown").body}
            if later is None:  # the first request failed and left nothing: retry
                return {"status": 503, **still_in_progress(item.event_id).body}
            seen = idempotency.parse_record(later, item.event_id)
        if item.digest is None or not seen.same_body(item.digest):
            return {"status": 409, **conflict(item.event_id).body}
        if seen.answer is None:
            return {"status": 503, **still_in_progress(item.event_id).body}
        return {"status": 200, **seen.answer}

    def _score(self, items: list[_Item], deadline: Deadline) -> dict[int, Scores | str]:
        """Each item's scores, or why it has none (a model's fault is a 503 for the items
        that model scores)."""
        out: dict[int, Scores | str] = {}
        groups: list[tuple[Scorer[Any] | None, list[_Item]]] = [
            (self.scorer, [i for i in items if not i.is_card]),
            (self.cards.scorer if self.cards else None, [i for i in items if i.is_card]),
        ]
        for scorer, group in groups:
            if not group:
                continue
            if scorer is None:
                for item in group:
                    out[item.index] = "the card model is not deployed on this API"
                continue
            rows: list[Any] = [
                i.card.features if i.card is not None else i.request.data  # type: ignore[union-attr]
                for i in group
            ]
            scores = self._score_rows(scorer, rows, deadline)
            for item, score in zip(group, scores, strict=True):
                if isinstance(score, str):
                    out[item.index] = score
                    continue
                problem = score_problem(score)
                if problem:
                    log.warning("unusable model answer: %s", score)
                out[item.index] = problem or score
        return out

    def _score_rows(
        self, scorer: Scorer[Any], rows: list[Any], deadline: Deadline
    ) -> list[Scores | str]:
        """Each row's scores, or why it has none. When the endpoint refused a group, one
        row may be the cause: the halves are scored apart, down to single rows, so each
        row's fault is that row's alone (k bad rows of n cost about 2k log2(n) calls)."""
        try:
            return list(scorer.score(rows, deadline))
        except ScoringUnavailable as exc:
            log.warning("scoring unavailable for %d rows: %s", len(rows), exc)
            if not exc.refused_rows or len(rows) == 1:
                return [exc.public] * len(rows)
        half = len(rows) // 2
        return self._score_rows(scorer, rows[:half], deadline) + self._score_rows(
            scorer, rows[half:], deadline
        )

    def _score_and_publish(
        self,
        valid: list[tuple[int, ParsedRequest, object]],
        results: list[dict[str, Any] | None],
        scored_at: datetime,
        deadline: Deadline,
    ) -> None:
        """Fill `results` for `valid` items: each item's fault is that item's answer, and
        an item that is not answered 200 leaves no trace in the store."""
        items = self._items(valid)
        store_failed = self._begin(items, deadline)
        for item in items:
            if item.index in store_failed:
                unavailable = store_unavailable(item.event_id, store_failed[item.index].recorded)
                results[item.index] = {"status": 503, **unavailable.body}
        items = [item for item in items if item.index not in store_failed]
        for item in items:
            if item.answer is not None and item.answer.reused:
                results[item.index] = {"status": 409, **reused(item.event_id).body}
        items = [i for i in items if i.answer is None or not i.answer.reused]
        fresh = [i for i in items if i.answer is None or i.answer.seen is None]
        failed: list[_Item] = []
        pending = self._decide(fresh, results, failed, scored_at, deadline) if fresh else []
        done: list[tuple[str, str]] = []
        answered: list[Attempt] = []
        if pending:
            outcomes = self.publisher.publish_many([record for _, _, record in pending], deadline)
            for (item, response, _), outcome in zip(pending, outcomes, strict=True):
                if outcome.ok:
                    answer = response.model_dump(mode="json")
                    results[item.index] = {"status": 200, **answer}
                    if item.digest is not None:
                        done.append((item.event_id, idempotency.done(item.digest, answer)))
                    if item.call is not None and item.answer is not None and item.answer.added:
                        answered.append(item.call.undo)
                else:
                    log.warning(
                        "event %s not confirmed by the stream: %s", response.event_id, outcome.error
                    )
                    results[item.index] = {
                        "status": 503,
                        **stream_unavailable(response.event_id, outcome).body,
                    }
                    failed.append(item)
        self._settle(done, answered, failed, results)
        for item in items:
            if item.answer is not None and item.answer.seen is not None:
                results[item.index] = self._repeat(item, item.answer.seen, deadline)

    def _decide(
        self,
        fresh: list[_Item],
        results: list[dict[str, Any] | None],
        failed: list[_Item],
        scored_at: datetime,
        deadline: Deadline,
    ) -> list[tuple[_Item, PredictResponse, tuple[bytes, str]]]:
        """Score and decide the items seen for the first time: the records to publish;
        the others get their error in `results` and join `failed`."""
        pending: list[tuple[_Item, PredictResponse, tuple[bytes, str]]] = []
        scores = self._score(fresh, deadline)
        for item in fresh:
            score = scores[item.index]
            if isinstance(score, str):
                results[item.index] = {"status": 503, **scoring_unavailable(score).body}
                failed.append(item)
                continue
            policy = self.cards.policy if item.is_card and self.cards else self.policy
            response, event = decide(
                item.request, score, policy, item.event_id, scored_at, item.card
            )
            record = encode_event(event)
            too_large = record_problem(*record)
            if too_large:
                results[item.index] = {
                    "status": 413,
                    **error(413, "payload_too_large", too_large).body,
                }
                failed.append(item)
                continue
            pending.append((item, response, record))
        return pending

    def _settle(
        self,
        done: list[tuple[str, str]],
        answered: list[Attempt],
        failed: list[_Item],
        results: list[dict[str, Any] | None],
    ) -> None:
        """Keep the answers for repeats and close the answered attempts; remove what
        failed items added. The events of `done` and `answered` are on the stream: a store
        fault keeping their answers is logged, not a client's 503 (the reaper finds their
        events on record and leaves their counts). A failed item whose count could not be
        removed says so."""
        try:
            self.store.finish_many(done, answered)
        except StoreUnavailable as exc:
            log.error("online store failed to keep answers: %s", exc)
        undo = [item for item in failed if item.call is not None and item.answer is not None]
        try:
            self.store.abandon_many(
                [
                    Abandon(item.call, item.pending, counted=item.answer.added)
                    for item in undo
                    if item.call and item.answer
                ]
            )
        except StoreUnavailable as exc:
            log.error("online store failed to undo %d failed items: %s", len(undo), exc)
            for item in undo:
                result = results[item.index]
                if result is not None and item.answer is not None and item.answer.added:
                    result["recorded"] = "unknown"
                    result["message"] = (
                        f"{result.get('message', '')} (except that the online store could "
                        "not undo its count yet: the transaction may stay in its card's "
                        "history until the store's reaper undoes it, within minutes)"
                    ).strip()
