"""The three decisions fraudit answers with, named once: every module that decides,
checks or charts a decision imports them from here. Pure."""

from __future__ import annotations

from typing import Final, Literal

Decision = Literal["approve", "review", "decline"]
APPROVE: Final = "approve"
REVIEW: Final = "review"
DECLINE: Final = "decline"
DECISIONS: Final[tuple[Decision, ...]] = (APPROVE, REVIEW, DECLINE)
