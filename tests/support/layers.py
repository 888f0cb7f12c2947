"""Every test module says which layer it belongs to: `pytestmark` carries the marker of
the folder it lives in (unit, integration or e2e). A module that does not fails the run
before any test starts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

LAYERS = ("unit", "integration", "e2e")


def module_marks(module: Any) -> set[str]:
    marks = getattr(module, "pytestmark", [])
    if not isinstance(marks, list | tuple):
        marks = [marks]
    return {mark.name for mark in marks}


def layer_errors(items: Iterable[pytest.Item], tests_root: Path) -> list[str]:
    """One line per test module whose module-level marks lack its folder's layer."""
    errors: dict[str, str] = {}
    for item in items:
        module = getattr(item, "module", None)
        path = Path(str(item.path))
        try:
            layer = path.relative_to(tests_root).parts[0]
        except ValueError:
            continue
        if module is None or layer not in LAYERS or str(path) in errors:
            continue
        if layer not in module_marks(module):
            errors[str(path)] = (
                f"{path.relative_to(tests_root)}: no layer marker "
                f"(add `pytestmark = pytest.mark.{layer}`)"
            )
    return sorted(errors.values())


def check_layers(items: list[pytest.Item], tests_root: Path) -> None:
    errors = layer_errors(items, tests_root)
    if errors:
        raise pytest.UsageError("test modules without their layer's marker:\n" + "\n".join(errors))
