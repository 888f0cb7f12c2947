"""The model families, each declared once (`base.ModelFamily`), and the registry every
consumer loops over. Registering a family is all it takes for settings, the API, the model
server, `fraudit deploy` and the CLI to serve it (tests/unit/test_model_families.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from fraudit.contracts import ScoredEvent
from fraudit.families.base import (
    DemoTraffic,
    FamilyCommands,
    FamilyServing,
    FamilySettings,
    FamilyTraffic,
    ModelFamily,
)
from fraudit.families.cards import CARDS
from fraudit.families.ulb import ULB

__all__ = [
    "DemoTraffic",
    "FamilyCommands",
    "FamilyServing",
    "FamilySettings",
    "FamilyTraffic",
    "ModelFamily",
    "families",
    "family",
    "family_of_event",
    "family_of_payload",
    "registered",
]

_REGISTRY: dict[str, ModelFamily] = {f.name: f for f in (ULB, CARDS)}


def families() -> tuple[ModelFamily, ...]:
    """Every declared family, the first (the default request contract) first."""
    return tuple(_REGISTRY.values())


def family(name: str) -> ModelFamily:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}: one of {', '.join(_REGISTRY)}") from None


def family_of_payload(payload: Mapping[str, object]) -> ModelFamily:
    """The family whose request key the body carries; the first family's otherwise (its
    contract then names what is missing)."""
    for candidate in _REGISTRY.values():
        if candidate.request_key in payload:
            return candidate
    return next(iter(_REGISTRY.values()))


def family_of_event(event: ScoredEvent) -> ModelFamily:
    """The family that scored a stored event: a card event carries its card."""
    has_card = event.card is not None
    for candidate in _REGISTRY.values():
        if candidate.counts_history == has_card:
            return candidate
    raise ValueError(f"no family scores events {'with' if has_card else 'without'} a card")


@contextmanager
def registered(extra: ModelFamily) -> Iterator[ModelFamily]:
    """A family added for the duration (tests of a third family)."""
    if extra.name in _REGISTRY:
        raise ValueError(f"family {extra.name!r} is already declared")
    _REGISTRY[extra.name] = extra
    try:
        yield extra
    finally:
        del _REGISTRY[extra.name]
