"""What a backtest tries, and its replay of one stored event: the candidate's rules run on
the event's stored fields, features and scores (fraudit.rules.fields.rule_inputs, as the API
runs them), with the list versions the event saw, and its policy decides on the stored
probability. Nothing is recomputed otherwise.

Pure but for CEL (the compiled rules)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict

from fraudit.contracts import ScoredEvent
from fraudit.decisions import APPROVE, Decision, RuleAction
from fraudit.families import ModelFamily, families, family_of_event
from fraudit.rules.document import PublishedList, RulesetDocument, RuleState
from fraudit.rules.engine import CompiledRuleset, FamilyRules
from fraudit.rules.fields import rule_inputs
from fraudit.rules.outcome import verdict
from fraudit.scoring.policy import DecisionPolicy

# Actions that stop or hold a transaction: a rule with one of them "catches" what it fires on.
CATCHING = frozenset({RuleAction.BLOCK, RuleAction.DECLINE, RuleAction.REVIEW})


class ListHistory(BaseModel):
    """Each list's entries at the versions the period's events saw: name -> version ->
    value -> expiry (Unix seconds, or None). Version 0, or one not kept, is an empty list."""

    model_config = ConfigDict(frozen=True)

    entries: dict[str, dict[int, dict[str, float | None]]] = {}

    def at(self, published: PublishedList, version: int) -> PublishedList:
        found = self.entries.get(published.name, {}).get(version, {})
        return published.model_copy(update={"version": max(version, 1), "entries": found})


class Candidate(BaseModel):
    """A ruleset document and a decision policy (as JSON, so the candidate travels to Spark
    workers as text) for one family. `promote_shadow`: the document's shadow rules are
    enforced too ("what if they went live"). `current_lists`: every event sees the lists as
    the document has them, instead of the versions it saw when it was scored.
    `shadow_model`: the candidate decides on the scores the candidate model recorded in
    shadow on each event, instead of the live model's (events without them are left out
    of both configurations and counted)."""

    model_config = ConfigDict(frozen=True)

    family: str
    ruleset: str  # RulesetDocument JSON
    policy: str  # DecisionPolicy JSON
    promote_shadow: bool = False
    current_lists: bool = False
    shadow_model: bool = False
    lists: ListHistory = ListHistory()

    def describe(self) -> dict[str, object]:
        document = RulesetDocument.from_json(self.ruleset)
        policy = DecisionPolicy.from_json(self.policy)
        return {
            "family": self.family,
            "ruleset_version": document.version,
            "rules": [f"{r.rule_id} v{r.version} [{r.state}] {r.action}" for r in document.rules],
            "policy_version": policy.version,
            "model_version": policy.model_version,
            "decline_threshold": policy.decline_threshold,
            "review_threshold": policy.review_threshold,
            "promote_shadow": self.promote_shadow,
            "current_lists": self.current_lists,
            "shadow_model": self.shadow_model,
        }


@dataclass(frozen=True)
class Replayed:
    """One stored event, as it was decided and as the candidate decides it."""

    event_id: str
    event_time: datetime
    day: date  # UTC
    entity: str  # whose transaction: the card for card events, else the user
    amount: float
    model_version_matches: bool
    live_decision: str
    live_score: float  # the probability the live decision used (after live adjustments)
    candidate_decision: str
    candidate_score: float
    model_decision: str  # the candidate policy alone, on the stored probability
    fired: tuple[str, ...] = ()  # every candidate rule that fired (enforced or shadow)
    marginal: tuple[str, ...] = ()  # catching rules nothing else would have caught it without
    faults: int = 0
    live_fired: tuple[str, ...] = field(default=())  # what the API recorded firing


class NotReplayable(ValueError):
    """A stored event this candidate cannot decide: left out of both configurations and
    counted, as unreadable events are."""


NO_SHADOW_SCORES = (
    "shadow: no candidate scores on this event (scored before the candidate started, or it "
    "did not answer in time)"
)


def _clip(p: float) -> float:
    return min(1.0, max(0.0, p))


class Replayer:
    """Replays events for one candidate, compiling its rules once per set of list versions."""

    def __init__(self, candidate: Candidate) -> None:
        self.candidate = candidate
        self.family: ModelFamily = next(f for f in families() if f.name == candidate.family)
        self.policy = DecisionPolicy.from_json(candidate.policy)
        document = RulesetDocument.from_json(candidate.ruleset)
        if candidate.promote_shadow:
            document = document.model_copy(
                update={
                    "rules": tuple(
                        r.model_copy(update={"state": RuleState.LIVE}) for r in document.rules
                    )
                }
            )
        self.document = document
        self.actions = {r.rule_id: RuleAction(r.action) for r in document.rules}
        self._compiled: dict[tuple[tuple[str, int], ...], FamilyRules] = {}

    def _rules(self, seen: Mapping[str, int]) -> FamilyRules:
        if self.candidate.current_lists:
            key: tuple[tuple[str, int], ...] = ()
        else:
            key = tuple(sorted((x.name, int(seen.get(x.name, 0))) for x in self.document.lists))
        rules = self._compiled.get(key)
        if rules is None:
            lists = self.document.lists
            if not self.candidate.current_lists:
                versions = dict(key)
                lists = tuple(self.candidate.lists.at(x, versions[x.name]) for x in lists)
            document = self.document.model_copy(update={"lists": lists})
            rules = CompiledRuleset(document, [self.family]).for_family(self.family)
            self._compiled[key] = rules
        return rules

    def _scored(self, event: ScoredEvent) -> tuple[ScoredEvent, str]:
        """The event as the candidate sees it, and the model version of its scores: the
        live model's, or the candidate model's recorded in shadow (its rules read those
        scores too)."""
        if not self.candidate.shadow_model:
            return event, event.model_version
        shadow = event.shadow
        if shadow is None:
            raise NotReplayable(NO_SHADOW_SCORES)
        scores = {"fraud_proba": shadow.fraud_proba, "anomaly_score": shadow.anomaly_score}
        return event.model_copy(update=scores), shadow.model_version

    def replay(self, event: ScoredEvent) -> Replayed:
        applied = event.rules
        scored, scored_by = self._scored(event)
        rules = self._rules(applied.list_versions if applied is not None else {})
        hits, faults = rules.evaluate(rule_inputs(scored, rules.used), event.scored_at.timestamp())
        anomaly = float(scored.anomaly_score)
        p = float(scored.fraud_proba)

        def model_decides(q: float) -> Decision:
            return self.policy.decide(q, anomaly)

        enforced = [h for h in hits if not h.shadow]
        decided = verdict(enforced, p, model_decides)
        model_decision = model_decides(p)
        catching = [h.rule_id for h in hits if h.action in CATCHING]
        enforced_catching = {h.rule_id for h in enforced if h.action in CATCHING}
        marginal = tuple(
            rule_id
            for rule_id in catching
            if model_decision == APPROVE and not (enforced_catching - {rule_id})
        )
        live_adjustment = applied.adjustment if applied is not None else 0.0
        live_p = float(event.fraud_proba)
        live_fired = (
            tuple(f.rule_id for f in [*applied.fired, *applied.shadow_fired])
            if applied is not None
            else ()
        )
        card = event.card
        return Replayed(
            event_id=event.event_id,
            event_time=event.timestamp,
            day=event.timestamp.astimezone(UTC).date(),
            entity=card.card_token if card is not None else event.user_id,
            amount=float(event.amount),
            model_version_matches=scored_by == self.policy.model_version,
            live_decision=str(event.decision),
            live_score=_clip(live_p + live_adjustment),
            candidate_decision=str(decided.decision),
            candidate_score=_clip(p + decided.adjustment),
            model_decision=str(model_decision),
            fired=tuple(h.rule_id for h in hits),
            marginal=marginal,
            faults=len(faults),
            live_fired=live_fired,
        )

    def replay_json(self, payload: str) -> Replayed | None:
        """A stored payload; None for another family's event."""
        event = ScoredEvent.model_validate_json(payload)
        if family_of_event(event) is not self.family:
            return None
        return self.replay(event)


def candidate_json(candidate: Candidate) -> str:
    return json.dumps(candidate.model_dump(mode="json"))
