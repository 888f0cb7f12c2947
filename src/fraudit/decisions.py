"""The three decisions fraudit answers with, named once: every module that decides,
checks or charts a decision imports them from here. Pure."""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

Decision = Literal["approve", "review", "decline"]
APPROVE: Final = "approve"
REVIEW: Final = "review"
DECLINE: Final = "decline"
DECISIONS: Final[tuple[Decision, ...]] = (APPROVE, REVIEW, DECLINE)


class RuleAction(StrEnum):
    """What a fired rule does, in the order of precedence (docs/RULES.md, "Precedence")."""

    BLOCK = "block"  # decline, whatever else fired (block lists)
    ALLOW = "allow"  # approve, unless a block rule fired
    DECLINE = "decline"
    REVIEW = "review"  # at least review: never lowers the model's decline
    ADJUST = "adjust"  # add the rule's adjustment to the probability before the thresholds
