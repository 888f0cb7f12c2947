"""The predict service's plan, pure: a request parsed by its family's contract, the
decision and the answer and stream event it makes, and every error body the API answers with.
The executor (`fraudit.api.service`) runs it around the I/O: the online store, the models,
the stream.

Invariants the plan keeps:
- a decision is only ever made on a model's scores (`score_problem` refuses the others);
- every error says what to do, and a 503 says whether the event may be recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from fraudit.contracts import (
    AnomalyResult,
    CardEvent,
    CardPredictRequest,
    ClassifierResult,
    PredictResponse,
    Reasons,
    ScoredEvent,
    ShadowScores,
    TransactionMetadata,
    ValidationClock,
)
from fraudit.decisions import DECLINE, REVIEW
from fraudit.families import families, family_of_payload
from fraudit.features.definitions import CardVector, Entity, feature_set_version
from fraudit.online.store import Recorded
from fraudit.rules.fields import rule_inputs
from fraudit.rules.outcome import applied
from fraudit.schema_versions import CARD_SCHEMA_VERSION, SCHEMA_VERSION
from fraudit.scoring.base import Scores
from fraudit.scoring.policy import DecisionPolicy

if TYPE_CHECKING:  # the compiled rules come with the service; CEL stays out of the stream's
    # imports of this module (the Glue job's environment has no CEL: encode_event).
    from fraudit.rules.engine import FamilyRules

FEATURE_SET_VERSION = feature_set_version()


@dataclass(frozen=True)
class ApiResult:
    status: int
    body: dict[str, Any]
    # For the request log: never features or card data.
    log: dict[str, Any] = field(default_factory=dict)


def answered(answer: dict[str, Any]) -> ApiResult:
    """A scored transaction's 200."""
    logged = {"event_id": answer.get("event_id"), "decision": answer.get("decision")}
    return ApiResult(200, answer, {k: v for k, v in logged.items() if v is not None})


def batch_item(result: ApiResult) -> dict[str, Any]:
    """One item of a batch answer: its status beside its body (the batch's wire format)."""
    return {"status": result.status, **result.body}


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


class ParsedRequest(Protocol):
    """A valid request of any family (its contract, `ModelFamily.request`)."""

    metadata: TransactionMetadata

    @property
    def amount(self) -> float: ...


def _request_shapes() -> str:
    keys = [f"'{f.request_key}' ({f.description})" for f in families()]
    return " or ".join(keys)


def parse_request(payload: object, clock: ValidationClock) -> ParsedRequest | ApiResult:
    """A request of the family whose key the body carries (`ModelFamily.request_key`: a card
    transaction's `transaction`, a ULB vector's `data`), checked by that family's contract."""
    if not isinstance(payload, dict):
        return error(
            400,
            "invalid_request",
            f"the body must be a JSON object with 'metadata' and either {_request_shapes()}",
        )
    contract = family_of_payload(payload).request
    try:
        parsed: ParsedRequest = contract.model_validate(payload, context=clock)  # type: ignore[assignment]
        return parsed
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

    features: CardVector
    arrivals: dict[Entity, int]


@dataclass(frozen=True)
class RulesFor:
    """A published ruleset's rules for one family, with the versions an event records."""

    rules: FamilyRules
    version: str
    list_versions: dict[str, int]


def decide(
    request: ParsedRequest,
    scores: Scores,
    policy: DecisionPolicy,
    event_id: str,
    scored_at: datetime,
    card: CardContext | None = None,
    rules: RulesFor | None = None,
) -> tuple[PredictResponse, ScoredEvent]:
    """The answer and the stream event for one scored transaction (pure). The endpoint's raw
    probability is calibrated here: the thresholds, the answer and the event all carry the
    probability of fraud at the production rate. `rules` (a ruleset's rules for the
    request's family) decide with the model, by the precedence of docs/RULES.md; they read
    the event's own fields, as a backtest replays them."""
    fraud_proba = policy.fraud_probability(scores.fraud_proba)
    decision = policy.decide(fraud_proba, scores.anomaly_score)
    prediction = 1 if policy.predicts_fraud(fraud_proba) else 0
    schema = CARD_SCHEMA_VERSION if isinstance(request, CardPredictRequest) else SCHEMA_VERSION
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
    applied_rules = None
    if rules is not None:
        inputs = rule_inputs(event, rules.rules.used)
        hits, faults = rules.rules.evaluate(inputs, scored_at.timestamp())
        applied_rules, decision = applied(
            rules.version,
            rules.list_versions,
            hits,
            faults,
            fraud_proba,
            lambda p: policy.decide(p, scores.anomaly_score),
        )
        event = event.model_copy(update={"decision": decision, "rules": applied_rules})
    response = PredictResponse(
        schema_version=schema,
        event_id=event_id,
        anomaly_detector=AnomalyResult(score=scores.anomaly_score),
        fraud_classifier=ClassifierResult(pred_proba=fraud_proba, prediction=prediction),
        decision=decision,
        model_version=policy.model_version,
        policy_version=policy.version,
        rules=applied_rules,
    )
    return response, event


def needs_reasons(response: PredictResponse) -> bool:
    """Reviews and declines carry the models' reasons (explaining costs tens of times a
    prediction, so approvals do without)."""
    return response.decision in (REVIEW, DECLINE)


def with_reasons(
    response: PredictResponse, event: ScoredEvent, given: Reasons
) -> tuple[PredictResponse, ScoredEvent]:
    return (
        response.model_copy(update={"reasons": given}),
        event.model_copy(update={"reasons": given}),
    )


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


def shadow_scores(scores: Scores, policy: DecisionPolicy) -> ShadowScores | None:
    """A candidate's scores as its event records them, calibrated and decided by its own
    policy; None when they are unusable (a shadow decides nothing: its fault is logged)."""
    if score_problem(scores):
        return None
    fraud_proba = policy.fraud_probability(scores.fraud_proba)
    return ShadowScores(
        model_version=policy.model_version,
        policy_version=policy.version,
        fraud_proba=fraud_proba,
        anomaly_score=scores.anomaly_score,
        decision=policy.decide(fraud_proba, scores.anomaly_score),
    )


def stream_unavailable(event_id: str, unknown: bool) -> ApiResult:
    """The documented 503: which dependency, what happened to the event, what to do;
    `unknown` when the stream may have the event after all."""
    if unknown:
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
        "recorded": "unknown" if unknown else "no",
    }
    return ApiResult(503, body, {"error": "stream_unavailable", "event_id": event_id})


def scoring_unavailable(message: str) -> ApiResult:
    result = error(503, "scoring_unavailable", f"{message}; nothing was recorded, retry later")
    # What the online store counted is undone before the answer; if that fails, the item
    # says "unknown" instead (PredictService._settle).
    return replace(result, body={**result.body, "recorded": "no"})


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
