"""The predict service. The planning (validation, decision, event and response shapes) is
pure; the service runs it around the two I/O steps, scoring and publishing.

Invariants:
- a 200 is only ever sent for an event that is on the stream;
- a score is only ever a model's: scoring failures are 503s, never defaults.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from fraudit.contracts import (
    SCHEMA_VERSION,
    AnomalyResult,
    ClassifierResult,
    PredictRequest,
    PredictResponse,
    ScoredEvent,
)
from fraudit.publishing import KinesisPublisher, PublishError
from fraudit.scoring.base import Scorer, Scores, ScoringUnavailable
from fraudit.scoring.policy import DecisionPolicy


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


def parse_request(payload: object) -> PredictRequest | ApiResult:
    if not isinstance(payload, dict):
        return error(
            400, "invalid_request", "the body must be a JSON object with 'metadata' and 'data'"
        )
    try:
        return PredictRequest.model_validate(payload)
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
    """The answer and the stream event for one scored transaction (pure)."""
    decision = policy.decide(scores.fraud_proba, scores.anomaly_score)
    prediction = 1 if policy.predicts_fraud(scores.fraud_proba) else 0
    response = PredictResponse(
        event_id=event_id,
        anomaly_detector=AnomalyResult(score=scores.anomaly_score),
        fraud_classifier=ClassifierResult(pred_proba=scores.fraud_proba, prediction=prediction),
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
        fraud_proba=scores.fraud_proba,
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
        clock: Callable[[], datetime] = _utcnow,
        new_event_id: Callable[[], str] = _new_event_id,
    ) -> None:
        self.scorer = scorer
        self.publisher = publisher
        self.policy = policy
        self.max_batch = max_batch
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

    def predict(self, payload: object) -> ApiResult:
        parsed = parse_request(payload)
        if isinstance(parsed, ApiResult):
            return parsed
        event_id = self._event_id(parsed)
        try:
            (scores,) = self.scorer.score([parsed.data])
        except ScoringUnavailable as exc:
            return error(503, "scoring_unavailable", f"a model endpoint is unavailable: {exc}")
        response, event = decide(parsed, scores, self.policy, event_id, self._clock())
        data, key = encode_event(event)
        try:
            self.publisher.publish(data, key)
        except PublishError as exc:
            result = error(
                503,
                "stream_unavailable",
                f"the transaction was scored but could not be recorded ({exc}); "
                "retry with the same transaction_id",
            )
            return ApiResult(
                503, {**result.body, "event_id": event_id}, {**result.log, "event_id": event_id}
            )
        return ApiResult(
            200,
            response.model_dump(mode="json"),
            {"event_id": event_id, "decision": response.decision},
        )

    def predict_batch(self, payload: object) -> ApiResult:
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
        results: list[dict[str, Any] | None] = [None] * len(items)
        valid: list[tuple[int, PredictRequest]] = []
        for index, item in enumerate(items):
            parsed = parse_request(item)
            if isinstance(parsed, ApiResult):
                results[index] = {"status": parsed.status, **parsed.body}
            else:
                valid.append((index, parsed))
        if valid:
            self._score_and_publish(valid, results)
        statuses = [r["status"] for r in results if r is not None]
        log = {
            "batch": len(items),
            "ok": statuses.count(200),
            "invalid": statuses.count(400),
            "unavailable": statuses.count(503),
        }
        return ApiResult(200, {"results": results}, log)

    def _score_and_publish(
        self, valid: list[tuple[int, PredictRequest]], results: list[dict[str, Any] | None]
    ) -> None:
        try:
            scores = self.scorer.score([request.data for _, request in valid])
        except ScoringUnavailable as exc:
            for index, _ in valid:
                results[index] = {
                    "status": 503,
                    "error": "scoring_unavailable",
                    "message": f"a model endpoint is unavailable: {exc}",
                }
            return
        scored_at = self._clock()
        answers = []
        for (_, request), score in zip(valid, scores, strict=True):
            answers.append(decide(request, score, self.policy, self._event_id(request), scored_at))
        outcomes = self.publisher.publish_many([encode_event(event) for _, event in answers])
        for (index, _), (response, _), outcome in zip(valid, answers, outcomes, strict=True):
            if outcome.ok:
                results[index] = {"status": 200, **response.model_dump(mode="json")}
            else:
                results[index] = {
                    "status": 503,
                    "error": "stream_unavailable",
                    "event_id": response.event_id,
                    "message": f"scored but not recorded ({outcome.error}); "
                    "retry with the same transaction_id",
                }
