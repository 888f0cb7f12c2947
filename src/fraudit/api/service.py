"""The predict service. The planning (validation, decision, event and response shapes) is
pure; the service runs it around the two I/O steps, scoring and publishing.

Invariants:
- a 200 is only ever sent for an event that is on the stream;
- a score is only ever a model's: scoring failures are 503s, never defaults.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from fraudit.contracts import (
    SCHEMA_VERSION,
    AnomalyResult,
    ClassifierResult,
    PredictRequest,
    PredictResponse,
    ScoredEvent,
    ValidationClock,
)
from fraudit.deadline import Deadline, no_deadline
from fraudit.publishing import KinesisPublisher, PublishOutcome
from fraudit.publishing.kinesis_producer import MAX_PARTITION_KEY_LENGTH, MAX_RECORD_BYTES
from fraudit.scoring.base import Scorer, Scores, ScoringUnavailable
from fraudit.scoring.policy import DecisionPolicy
from fraudit.validity import DEFAULT_MAX_EVENT_AGE

log = logging.getLogger("fraudit.api")


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


def parse_request(payload: object, clock: ValidationClock) -> PredictRequest | ApiResult:
    if not isinstance(payload, dict):
        return error(
            400, "invalid_request", "the body must be a JSON object with 'metadata' and 'data'"
        )
    try:
        return PredictRequest.model_validate(payload, context=clock)
    except ValidationError as exc:
        details = validation_details(exc)
        return error(
            400,
            "invalid_request",
            f"{len(details)} invalid field(s): " + ", ".join(d["field"] for d in details),
            details,
        )


def decide(
    request: PredictRequest,
    scores: Scores,
    policy: DecisionPolicy,
    event_id: str,
    scored_at: datetime,
) -> tuple[PredictResponse, ScoredEvent]:
    """The answer and the stream event for one scored transaction (pure). The endpoint's raw
    probability is calibrated here: the thresholds, the answer and the event all carry the
    probability of fraud at the production rate."""
    fraud_proba = policy.fraud_probability(scores.fraud_proba)
    decision = policy.decide(fraud_proba, scores.anomaly_score)
    prediction = 1 if policy.predicts_fraud(fraud_proba) else 0
    response = PredictResponse(
        event_id=event_id,
        anomaly_detector=AnomalyResult(score=scores.anomaly_score),
        fraud_classifier=ClassifierResult(pred_proba=fraud_proba, prediction=prediction),
        decision=decision,
        model_version=policy.model_version,
        policy_version=policy.version,
    )
    meta = request.metadata
    event = ScoredEvent(
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
    return error(503, "scoring_unavailable", f"{message}; nothing was recorded, retry later")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_event_id() -> str:
    return str(uuid.uuid4())


class PredictService:
    def __init__(
        self,
        scorer: Scorer,
        publisher: KinesisPublisher,
        policy: DecisionPolicy,
        *,
        max_batch: int = 500,
        max_event_age: timedelta = DEFAULT_MAX_EVENT_AGE,
        clock: Callable[[], datetime] = _utcnow,
        new_event_id: Callable[[], str] = _new_event_id,
    ) -> None:
        self.scorer = scorer
        self.publisher = publisher
        self.policy = policy
        self.max_batch = max_batch
        self.max_event_age = max_event_age
        self._clock = clock
        self._new_event_id = new_event_id

    def health(self) -> dict[str, Any]:
        """Cheap: configuration only, no call to the endpoints or the stream."""
        return {
            "status": "ok",
            "schema_version": SCHEMA_VERSION,
            "model_version": self.policy.model_version,
            "policy_version": self.policy.version,
            "stream": self.publisher.stream_name,
            "scorer": type(self.scorer).__name__,
        }

    def _event_id(self, request: PredictRequest) -> str:
        return request.metadata.transaction_id or self._new_event_id()

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
        self._score_and_publish([(0, parsed)], results, clock.now, deadline)
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
        valid: list[tuple[int, PredictRequest]] = []
        for index, item in enumerate(items):
            parsed = parse_request(item, clock)
            if isinstance(parsed, ApiResult):
                results[index] = {"status": parsed.status, **parsed.body}
            else:
                valid.append((index, parsed))
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

    def _score_and_publish(
        self,
        valid: list[tuple[int, PredictRequest]],
        results: list[dict[str, Any] | None],
        scored_at: datetime,
        deadline: Deadline,
    ) -> None:
        """Fill `results` for `valid` items: each item's fault is that item's answer."""
        try:
            scores = self.scorer.score([request.data for _, request in valid], deadline)
        except ScoringUnavailable as exc:
            log.warning("scoring unavailable: %s", exc)
            failed = scoring_unavailable(exc.public)
            for index, _ in valid:
                results[index] = {"status": 503, **failed.body}
            return
        pending: list[tuple[int, PredictResponse, tuple[bytes, str]]] = []
        for (index, request), score in zip(valid, scores, strict=True):
            problem = score_problem(score)
            if problem:
                log.warning("unusable model answer: %s", score)
                results[index] = {"status": 503, **scoring_unavailable(problem).body}
                continue
            response, event = decide(
                request, score, self.policy, self._event_id(request), scored_at
            )
            record = encode_event(event)
            too_large = record_problem(*record)
            if too_large:
                results[index] = {"status": 413, **error(413, "payload_too_large", too_large).body}
                continue
            pending.append((index, response, record))
        if not pending:
            return
        outcomes = self.publisher.publish_many([record for _, _, record in pending], deadline)
        for (index, response, _), outcome in zip(pending, outcomes, strict=True):
            if outcome.ok:
                results[index] = {"status": 200, **response.model_dump(mode="json")}
            else:
                log.warning(
                    "event %s not confirmed by the stream: %s", response.event_id, outcome.error
                )
                results[index] = {
                    "status": 503,
                    **stream_unavailable(response.event_id, outcome).body,
                }
