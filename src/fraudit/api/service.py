"""The predict service: the executor that runs the plan (`fraudit.api.plan`: parsing,
decision, event and response shapes, error bodies) around the I/O: the online store, each
family's models, the stream. Every step's outcome is an `ApiResult`.

Invariants:
- a 200 is only ever sent for an event that is on the stream;
- a score is only ever a model's: scoring failures are 503s, never defaults.
"""

from __future__ import annotations

import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fraudit.api.plan import (
    FEATURE_SET_VERSION,
    ApiResult,
    CardContext,
    ParsedRequest,
    RulesFor,
    answered,
    batch_item,
    conflict,
    decide,
    encode_event,
    error,
    needs_reasons,
    parse_request,
    reused,
    score_problem,
    scoring_unavailable,
    shadow_scores,
    still_in_progress,
    store_unavailable,
    stream_unavailable,
    with_reasons,
)
from fraudit.contracts import (
    CardPredictRequest,
    PredictResponse,
    ScoredEvent,
    ShadowScores,
    ValidationClock,
)
from fraudit.deadline import DEFAULT_SHADOW_TIMEOUT, Deadline, no_deadline
from fraudit.families import ModelFamily, families
from fraudit.features.history import CardTransaction, from_request
from fraudit.online import idempotency
from fraudit.online.plan import Attempt, BeginAnswer, BeginCall, vector_from_state
from fraudit.online.store import Abandon, Store, StoreUnavailable
from fraudit.publishing import KinesisPublisher
from fraudit.publishing.kinesis_producer import MAX_PARTITION_KEY_LENGTH, MAX_RECORD_BYTES
from fraudit.rules.document import empty_ruleset
from fraudit.rules.engine import CompiledRuleset
from fraudit.rules.source import FixedRuleset, RulesetProvider
from fraudit.schema_versions import SCHEMA_VERSION
from fraudit.scoring.base import Scorer, Scores, ScoringUnavailable
from fraudit.scoring.policy import DecisionPolicy
from fraudit.scoring.reasons import reasons
from fraudit.validity import DEFAULT_MAX_EVENT_AGE

log = logging.getLogger("fraudit.api")


def record_problem(data: bytes, key: str) -> str | None:
    """Why Kinesis would refuse this record as too large (the request's own size)."""
    if len(data) + len(key.encode()) > MAX_RECORD_BYTES or len(key) > MAX_PARTITION_KEY_LENGTH:
        return f"the scored event exceeds Kinesis's {MAX_RECORD_BYTES}-byte record limit"
    return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_event_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class FamilyModel:
    """A model family as the API scores it: its endpoints (or in-process models) and its
    decision policy; and a candidate scoring the same rows in shadow, if one is set."""

    scorer: Scorer[Any]
    policy: DecisionPolicy
    shadow: FamilyModel | None = None


@dataclass
class _Item:
    """One valid transaction on its way through a request."""

    index: int
    request: ParsedRequest
    family: ModelFamily
    event_id: str
    digest: str | None  # the body's fingerprint when the client gave a transaction_id
    tx: CardTransaction | None = None  # a card transaction as the feature engines see it
    call: BeginCall | None = None
    answer: BeginAnswer | None = None
    card: CardContext | None = None
    row: Any = None  # what its family's models scored

    # A nonce per request: names what this attempt counted and claimed, for ABANDON.
    attempt: str = field(default_factory=lambda: secrets.token_hex(6))

    @property
    def pending(self) -> str | None:
        return None if self.digest is None else idempotency.pending(self.digest, self.attempt)


class PredictService:
    def __init__(
        self,
        publisher: KinesisPublisher,
        models: Mapping[str, FamilyModel],
        *,
        store: Store,
        max_batch: int = 500,
        max_event_age: timedelta = DEFAULT_MAX_EVENT_AGE,
        clock: Callable[[], datetime] = _utcnow,
        new_event_id: Callable[[], str] = _new_event_id,
        rules: RulesetProvider | None = None,
        shadow_timeout: float = DEFAULT_SHADOW_TIMEOUT,
    ) -> None:
        required = [f.name for f in families() if f.required and f.name not in models]
        if required:
            raise ValueError(f"no model for the required families {required}")
        self.publisher = publisher
        self.models = dict(models)
        self.store = store
        self.max_batch = max_batch
        self.max_event_age = max_event_age
        self._clock = clock
        self._new_event_id = new_event_id
        self.rules = rules or FixedRuleset(CompiledRuleset(empty_ruleset(clock()), families()))
        self.shadow_timeout = shadow_timeout
        # The candidates score beside the live models, on threads of their own. A call
        # takes a slot until it ends, answered or not: when a candidate hangs, the slots
        # fill and later requests skip it at once instead of each waiting out the timeout.
        shadows = 4 * sum(1 for m in self.models.values() if m.shadow is not None)
        self._shadow_pool = (
            ThreadPoolExecutor(max_workers=shadows, thread_name_prefix="shadow")
            if shadows
            else None
        )
        self._shadow_slots = threading.BoundedSemaphore(max(1, shadows))

    def health(self) -> dict[str, Any]:
        """Cheap: configuration only, no call to the endpoints or the stream."""
        first = next(f for f in families() if f.name in self.models)
        out: dict[str, Any] = {
            "status": "ok",
            "schema_version": SCHEMA_VERSION,
            "policy_version": self.models[first.name].policy.version,
            "stream": self.publisher.stream_name,
            "scorer": type(self.models[first.name].scorer).__name__,
            "ruleset_version": self.rules.current().version,
        }
        for declared in families():
            if declared.name in self.models:
                model = self.models[declared.name]
                out[declared.health_key] = model.policy.model_version
                if model.shadow is not None:
                    out[declared.shadow_health_key] = model.shadow.policy.model_version
                if declared.counts_history:
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
        results: list[ApiResult | None] = [None]
        self._score_and_publish([(0, parsed, payload)], results, clock.now, deadline)
        (result,) = results
        assert result is not None
        body = result.body
        logged = {"event_id": body.get("event_id"), "decision": body.get("decision")}
        if "error" in body:
            logged["error"] = body["error"]
        return replace(result, log={k: v for k, v in logged.items() if v is not None})

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
        results: list[ApiResult | None] = [None] * len(items)
        valid: list[tuple[int, ParsedRequest, object]] = []
        seen_ids: set[str] = set()
        for index, item in enumerate(items):
            parsed = parse_request(item, clock)
            if isinstance(parsed, ApiResult):
                results[index] = parsed
                continue
            transaction_id = parsed.metadata.transaction_id
            if transaction_id is not None and transaction_id in seen_ids:
                results[index] = error(
                    400,
                    "duplicate_in_batch",
                    f"transaction_id {transaction_id!r} appears earlier in this batch",
                )
                continue
            if transaction_id is not None:
                seen_ids.add(transaction_id)
            valid.append((index, parsed, item))
        if valid:
            self._score_and_publish(valid, results, clock.now, deadline)
        statuses = [r.status for r in results if r is not None]
        log = {
            "batch": len(items),
            "ok": statuses.count(200),
            "invalid": sum(1 for s in statuses if 400 <= s < 500),
            "unavailable": statuses.count(503),
        }
        answers = [None if r is None else batch_item(r) for r in results]
        return ApiResult(200, {"results": answers}, log)

    # --- the steps of a request ----------------------------------------------------------

    def _items(self, valid: list[tuple[int, ParsedRequest, object]]) -> list[_Item]:
        items = []
        for index, request, payload in valid:
            given = request.metadata.transaction_id
            digest = idempotency.body_hash(payload) if given is not None else None
            kind = next(f for f in families() if isinstance(request, f.request))
            items.append(_Item(index, request, kind, given or self._new_event_id(), digest))
        return items

    def _begin(self, items: list[_Item], deadline: Deadline) -> dict[int, StoreUnavailable]:
        """Claim each transaction_id and count each card transaction (a claim, then the
        entity steps: two round trips, fraudit.online.redis_store);
        items that need neither (a ULB vector without transaction_id) skip the store and
        go on whatever the store does. Returns the items the store failed, by index."""
        store = self.store
        for item in items:
            if isinstance(item.request, CardPredictRequest):
                item.tx = from_request(item.request, item.event_id, 0)
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

    def _repeat(self, item: _Item, record: str, deadline: Deadline) -> ApiResult:
        """The answer to a transaction_id seen before: the first answer, a 409 for another
        body, or a 503 while the first is still in progress (after waiting for it)."""
        seen = idempotency.parse_record(record, item.event_id)
        if seen.answer is None and item.digest is not None and seen.same_body(item.digest):
            try:
                later = self.store.wait_for_answer(item.event_id, deadline)
            except StoreUnavailable as exc:
                log.warning("online store unavailable: %s", exc)
                # The first request's fate is not known here.
                return store_unavailable(item.event_id, "unknown")
            if later is None:  # the first request failed and left nothing: retry
                return still_in_progress(item.event_id)
            seen = idempotency.parse_record(later, item.event_id)
        if item.digest is None or not seen.same_body(item.digest):
            return conflict(item.event_id)
        if seen.answer is None:
            return still_in_progress(item.event_id)
        return answered(seen.answer)

    def _score(
        self, items: list[_Item], deadline: Deadline
    ) -> tuple[dict[int, Scores | str], dict[int, ShadowScores]]:
        """Each item's scores, or why it has none (a model's fault is a 503 for the items
        that model scores); and the scores of its family's candidate in shadow, where one
        answered in time."""
        out: dict[int, Scores | str] = {}
        shadow_deadline = Deadline(
            min(deadline.at, deadline.clock() + self.shadow_timeout), deadline.clock
        )
        shadow_calls: list[tuple[list[_Item], FamilyModel, Future[list[Scores]]]] = []
        for declared in families():
            group = [i for i in items if i.family.name == declared.name]
            if not group:
                continue
            model = self.models.get(declared.name)
            if model is None:
                for item in group:
                    out[item.index] = (
                        f"the {declared.name} family's model is not deployed on this API"
                    )
                continue
            scorer = model.scorer
            for i in group:
                i.row = declared.row(i.request, i.card.features if i.card is not None else None)
            rows = [i.row for i in group]
            if model.shadow is not None:
                call = self._submit_shadow(model.shadow, rows, shadow_deadline)
                if call is not None:
                    shadow_calls.append((group, model.shadow, call))
            scores = self._score_rows(scorer, rows, deadline)
            for item, score in zip(group, scores, strict=True):
                if isinstance(score, str):
                    out[item.index] = score
                    continue
                problem = score_problem(score)
                if problem:
                    log.warning("unusable model answer: %s", score)
                out[item.index] = problem or score
        shadows: dict[int, ShadowScores] = {}
        for group, shadow, call in shadow_calls:
            shadows |= self._shadow_scores(group, shadow, call, shadow_deadline)
        return out, shadows

    def _submit_shadow(
        self, shadow: FamilyModel, rows: list[Any], deadline: Deadline
    ) -> Future[list[Scores]] | None:
        """The candidate's call, or None when every slot is taken by calls still running."""
        if self._shadow_pool is None or not self._shadow_slots.acquire(blocking=False):
            log.warning(
                "shadow model %s: skipped for %d rows, its earlier calls are still running",
                shadow.policy.model_version,
                len(rows),
            )
            return None
        call = self._shadow_pool.submit(shadow.scorer.score, rows, deadline)
        call.add_done_callback(lambda _: self._shadow_slots.release())
        return call

    @staticmethod
    def _shadow_scores(
        group: Sequence[_Item],
        shadow: FamilyModel,
        call: Future[list[Scores]],
        deadline: Deadline,
    ) -> dict[int, ShadowScores]:
        """A candidate's scores of `group`, or none: whatever goes wrong with a candidate
        (an outage, a timeout, a fault in its code) is logged and changes no answer."""
        version = shadow.policy.model_version
        try:
            scores = call.result(timeout=deadline.remaining())
        except FutureTimeout:
            log.warning("shadow model %s: no scores for %d rows in time", version, len(group))
            return {}
        except Exception as exc:
            log.warning("shadow model %s: no scores for %d rows: %s", version, len(group), exc)
            return {}
        if len(scores) != len(group):
            log.warning("shadow model %s: %d scores for %d rows", version, len(scores), len(group))
            return {}
        out: dict[int, ShadowScores] = {}
        for item, score in zip(group, scores, strict=True):
            recorded = shadow_scores(score, shadow.policy)
            if recorded is None:
                log.warning("shadow model %s: unusable answer %s", version, score)
                continue
            out[item.index] = recorded
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
        results: list[ApiResult | None],
        scored_at: datetime,
        deadline: Deadline,
    ) -> None:
        """Fill `results` for `valid` items: each item's fault is that item's answer, and
        an item that is not answered 200 leaves no trace in the store."""
        items = self._items(valid)
        store_failed = self._begin(items, deadline)
        for item in items:
            if item.index in store_failed:
                results[item.index] = store_unavailable(
                    item.event_id, store_failed[item.index].recorded
                )
        items = [item for item in items if item.index not in store_failed]
        for item in items:
            if item.answer is not None and item.answer.reused:
                results[item.index] = reused(item.event_id)
        items = [i for i in items if i.answer is None or not i.answer.reused]
        fresh = [i for i in items if i.answer is None or i.answer.seen is None]
        failed: list[_Item] = []
        pending = self._decide(fresh, results, failed, scored_at, deadline) if fresh else []
        done: list[tuple[str, str]] = []
        closed: list[Attempt] = []
        if pending:
            outcomes = self.publisher.publish_many([record for _, _, record in pending], deadline)
            for (item, response, _), outcome in zip(pending, outcomes, strict=True):
                if outcome.ok:
                    answer = response.model_dump(mode="json")
                    results[item.index] = answered(answer)
                    if item.digest is not None:
                        done.append((item.event_id, idempotency.done(item.digest, answer)))
                    if item.call is not None and item.answer is not None and item.answer.added:
                        closed.append(item.call.undo)
                else:
                    log.warning(
                        "event %s not confirmed by the stream: %s", response.event_id, outcome.error
                    )
                    results[item.index] = stream_unavailable(response.event_id, outcome.unknown)
                    failed.append(item)
        self._settle(done, closed, failed, results)
        for item in items:
            if item.answer is not None and item.answer.seen is not None:
                results[item.index] = self._repeat(item, item.answer.seen, deadline)

    def _decide(
        self,
        fresh: list[_Item],
        results: list[ApiResult | None],
        failed: list[_Item],
        scored_at: datetime,
        deadline: Deadline,
    ) -> list[tuple[_Item, PredictResponse, tuple[bytes, str]]]:
        """Score and decide the items seen for the first time, with the ruleset in force and
        the reasons of reviews and declines: the records to publish; the others get their
        error in `results` and join `failed`."""
        scores, shadows = self._score(fresh, deadline)
        ruleset = self.rules.current()  # one version for the whole request
        versions = ruleset.list_versions()
        rules_of = {
            item.family.name: RulesFor(ruleset.for_family(item.family), ruleset.version, versions)
            for item in fresh
        }
        decided: list[tuple[_Item, PredictResponse, ScoredEvent]] = []
        for item in fresh:
            score = scores[item.index]
            if isinstance(score, str):
                results[item.index] = scoring_unavailable(score)
                failed.append(item)
                continue
            rules = rules_of[item.family.name]
            policy = self.models[item.family.name].policy
            response, event = decide(
                item.request, score, policy, item.event_id, scored_at, item.card, rules
            )
            if item.index in shadows:
                event = event.model_copy(update={"shadow": shadows[item.index]})
            decided.append((item, response, event))
        decided = self._explain(decided, deadline)
        pending: list[tuple[_Item, PredictResponse, tuple[bytes, str]]] = []
        for item, response, event in decided:
            record = encode_event(event)
            too_large = record_problem(*record)
            if too_large:
                results[item.index] = error(413, "payload_too_large", too_large)
                failed.append(item)
                continue
            pending.append((item, response, record))
        return pending

    def _explain(
        self, decided: list[tuple[_Item, PredictResponse, ScoredEvent]], deadline: Deadline
    ) -> list[tuple[_Item, PredictResponse, ScoredEvent]]:
        """Reviews and declines with their models' reasons, a family's rows in one call. A
        model that cannot explain leaves the decision standing without reasons (logged;
        `fraudit explain` recomputes them from the event)."""
        out = list(decided)
        for declared in families():
            chosen = [
                n
                for n, (item, response, _) in enumerate(out)
                if item.family.name == declared.name and needs_reasons(response)
            ]
            if not chosen:
                continue
            scorer = self.models[declared.name].scorer
            try:
                explained = scorer.explain([out[n][0].row for n in chosen], deadline)
            except ScoringUnavailable as exc:
                log.warning("no reasons for %d %s decisions: %s", len(chosen), declared.name, exc)
                continue
            version = FEATURE_SET_VERSION if declared.counts_history else None
            for n, explanation in zip(chosen, explained, strict=True):
                item, response, event = out[n]
                given = reasons(declared, explanation, item.row, version)
                out[n] = (item, *with_reasons(response, event, given))
        return out

    def _settle(
        self,
        done: list[tuple[str, str]],
        closed: list[Attempt],
        failed: list[_Item],
        results: list[ApiResult | None],
    ) -> None:
        """Keep the answers for repeats and close the answered attempts; remove what
        failed items added. The events of `done` and `closed` are on the stream: a store
        fault keeping their answers is logged, not a client's 503 (the reaper finds their
        events on record and leaves their counts). A failed item whose count could not be
        removed says so."""
        try:
            self.store.finish_many(done, closed)
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
                    message = (
                        f"{result.body.get('message', '')} (except that the online store could "
                        "not undo its count yet: the transaction may stay in its card's "
                        "history until the store's reaper undoes it, within minutes)"
                    ).strip()
                    body = {**result.body, "recorded": "unknown", "message": message}
                    results[item.index] = replace(result, body=body)
