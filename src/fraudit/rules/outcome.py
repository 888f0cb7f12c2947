"""How fired rules and the model's scores become one decision, and the record of it that the
answer and the stream event carry. Pure.

Precedence (docs/RULES.md), among *live* rules that fired:
1. a `block` rule: decline (a blocked card is declined even at an allowed merchant);
2. an `allow` rule: approve;
3. a `decline` rule: decline;
4. the model, on its probability plus every fired `adjust` rule's adjustment (clamped to
   [0, 1]), by the policy's thresholds;
5. a `review` rule raises an approval to review; it never lowers the model's decline.
Within one action the rule of lowest priority (then rule id) is named as the cause.
Shadow rules are evaluated and recorded, never enforced: `shadow_decision` says what the
decision would have been with them live."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fraudit.contracts import FiredRule, RuleFaultRecord, RuleInput, RulesApplied
from fraudit.decisions import APPROVE, DECLINE, REVIEW, Decision
from fraudit.decisions import RuleAction as Action

_SEVERITY = {APPROVE: 0, REVIEW: 1, DECLINE: 2}


@dataclass(frozen=True)
class RuleHit:
    """A rule that fired, with the values of the fields it names."""

    rule_id: str
    version: int
    action: Action
    priority: int
    reason: str
    shadow: bool
    values: dict[str, RuleInput] = field(default_factory=dict)
    adjustment: float | None = None

    def record(self) -> FiredRule:
        return FiredRule(
            rule_id=self.rule_id,
            version=self.version,
            action=self.action,
            reason=self.reason,
            values=self.values,
            adjustment=self.adjustment,
        )


@dataclass(frozen=True)
class RuleFault:
    """A rule that failed at run time (a division by zero, say): it did not fire, and the
    event says why. A rule that reads an absent value simply does not fire."""

    rule_id: str
    shadow: bool
    message: str


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    cause: str | None  # the deciding rule's id; None: the model decided
    adjustment: float


def _first(hits: Sequence[RuleHit], action: Action) -> RuleHit | None:
    chosen = [h for h in hits if h.action is action]
    return min(chosen, key=lambda h: (h.priority, h.rule_id)) if chosen else None


def verdict(
    hits: Sequence[RuleHit], fraud_proba: float, model_decides: Callable[[float], Decision]
) -> Verdict:
    """The decision `hits` (rules enforced together) and the model make, by the precedence
    above. `model_decides` is the policy on a probability (the anomaly score bound)."""
    overriding: tuple[tuple[Action, Decision], ...] = (
        (Action.BLOCK, DECLINE),
        (Action.ALLOW, APPROVE),
        (Action.DECLINE, DECLINE),
    )
    for action, overridden in overriding:
        hit = _first(hits, action)
        if hit is not None:
            return Verdict(overridden, hit.rule_id, 0.0)
    adjustment = sum(h.adjustment or 0.0 for h in hits if h.action is Action.ADJUST)
    decision = model_decides(min(1.0, max(0.0, fraud_proba + adjustment)))
    review = _first(hits, Action.REVIEW)
    if review is not None and _SEVERITY[REVIEW] > _SEVERITY[decision]:
        return Verdict(REVIEW, review.rule_id, adjustment)
    adjuster = _first(hits, Action.ADJUST)
    unadjusted = model_decides(fraud_proba) if adjuster is not None else decision
    cause = adjuster.rule_id if adjuster is not None and unadjusted != decision else None
    return Verdict(decision, cause, adjustment)


def applied(
    ruleset_version: str,
    list_versions: dict[str, int],
    hits: Sequence[RuleHit],
    faults: Sequence[RuleFault],
    fraud_proba: float,
    model_decides: Callable[[float], Decision],
) -> tuple[RulesApplied, Decision]:
    """The record of what the rules did to one transaction, and the decision it answers."""
    live = verdict([h for h in hits if not h.shadow], fraud_proba, model_decides)
    return RulesApplied(
        ruleset_version=ruleset_version,
        list_versions=dict(list_versions),
        model_decision=model_decides(fraud_proba),
        decided_by=live.cause,
        adjustment=live.adjustment,
        fired=[h.record() for h in hits if not h.shadow],
        shadow_fired=[h.record() for h in hits if h.shadow],
        shadow_decision=verdict(hits, fraud_proba, model_decides).decision,
        faults=[
            RuleFaultRecord(rule_id=f.rule_id, shadow=f.shadow, message=f.message) for f in faults
        ],
    ), live.decision
