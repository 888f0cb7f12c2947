"""A published ruleset: one JSON document holding every shadow and live rule of every family
and the lists they read, at one version (docs/RULES.md). PostgreSQL keeps the history and
the lifecycle; the API and the backtest read only this document. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fraudit.decisions import RuleAction as Action

RULE_ID_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
LIST_NAME_PATTERN = RULE_ID_PATTERN
MAX_EXPRESSION_CHARS = 4_000
MAX_LIST_ENTRIES = 1_000_000


class ListKind(StrEnum):
    """What a list's entries are: the rule field they are meant to be compared with."""

    CARD = "card"  # card_token
    MERCHANT = "merchant"  # merchant_id
    DEVICE = "device"  # device_id
    IP = "ip"  # ip_address
    USER = "user"  # user_id


class RuleState(StrEnum):
    DRAFT = "draft"
    SHADOW = "shadow"
    LIVE = "live"
    RETIRED = "retired"


PublishedState = Literal[RuleState.SHADOW, RuleState.LIVE]


class RulesetError(ValueError):
    """A ruleset document that cannot be served: malformed, or a rule that does not compile
    (`problems`: each with its rule, line and column)."""

    def __init__(self, message: str, problems: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PublishedRule(_Frozen):
    rule_id: Annotated[str, Field(pattern=RULE_ID_PATTERN)]
    version: Annotated[int, Field(ge=1)]
    family: Annotated[str, Field(min_length=1, max_length=32)]
    state: PublishedState
    action: Action
    # Lower runs first and wins ties within one action (the rule named as the decision's cause).
    priority: Annotated[int, Field(ge=0, le=1_000_000)] = 100
    expression: Annotated[str, Field(min_length=1, max_length=MAX_EXPRESSION_CHARS)]
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    adjustment: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None

    @model_validator(mode="after")
    def _adjustment_for_adjust_only(self) -> Self:
        if (self.action is Action.ADJUST) != (self.adjustment is not None):
            raise ValueError("an adjustment is given for, and only for, action 'adjust'")
        return self

    @property
    def shadow(self) -> bool:
        return self.state is RuleState.SHADOW


class PublishedList(_Frozen):
    name: Annotated[str, Field(pattern=LIST_NAME_PATTERN)]
    kind: ListKind
    version: Annotated[int, Field(ge=1)]
    # value -> when it stops counting (Unix seconds), or None: until removed.
    entries: Annotated[dict[str, float | None], Field(max_length=MAX_LIST_ENTRIES)]


class RulesetDocument(_Frozen):
    format: Literal[1] = 1  # the format this code reads and writes
    version: Annotated[str, Field(min_length=1, max_length=64)]
    published_at: datetime
    rules: tuple[PublishedRule, ...] = ()
    lists: tuple[PublishedList, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [r.rule_id for r in self.rules]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"rules published twice: {twice}")
        names = [x.name for x in self.lists]
        if len(set(names)) != len(names):
            raise ValueError("a list is published twice")
        return self

    def list_versions(self) -> dict[str, int]:
        return {x.name: x.version for x in self.lists}

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> RulesetDocument:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[:3]
            where = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in first
            )
            raise RulesetError(
                f"malformed ruleset document ({exc.error_count()} errors): {where}"
            ) from None


EMPTY_VERSION = "none"


def empty_ruleset(published_at: datetime) -> RulesetDocument:
    """No rule at all: what an API without a configured ruleset decides with."""
    return RulesetDocument(version=EMPTY_VERSION, published_at=published_at)


def canonical(document: RulesetDocument) -> str:
    """A stable text of a document (its hash names a version when nothing else does)."""
    return json.dumps(document.model_dump(mode="json"), sort_keys=True)
