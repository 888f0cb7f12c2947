"""The rules of the house (docs/ARCHITECTURE.md) that can be read off the source: which
modules are pure, declared once and applied by ruff and mypy alike."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PURE = set(PYPROJECT["tool"]["fraudit"]["pure-modules"])

# Modules whose docstring uses the word for a part of them or in another sense: each says
# what is pure, and the module itself does I/O.
NOT_A_PURITY_CLAIM = {
    "src/fraudit/local/demo.py": "`plan()` is pure; the module runs the processes",
    "src/fraudit/api/service.py": "its planning functions are pure; the service does the I/O",
    "src/fraudit/data/sparkov.py": '"pure standard library": no numpy; it reads files',
}


def _module_name(path: str) -> str:
    return path.removeprefix("src/").removesuffix(".py").replace("/", ".")


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def test_every_declared_pure_module_exists() -> None:
    missing = sorted(p for p in PURE if not (ROOT / p).is_file())
    assert not missing, f"pure-modules names files that do not exist: {missing}"


def test_ruff_refuses_io_imports_in_exactly_the_pure_modules() -> None:
    ignores = PYPROJECT["tool"]["ruff"]["lint"]["per-file-ignores"]
    negated = [key for key, codes in ignores.items() if key.startswith("!{") and "TID251" in codes]
    assert len(negated) == 1, "TID251 is switched off everywhere but one set of files"
    ruff_pure = set(negated[0].removeprefix("!{").removesuffix("}").split(","))
    assert ruff_pure == PURE, (
        f"ruff's TID251 list differs from tool.fraudit.pure-modules: only in ruff "
        f"{sorted(ruff_pure - PURE)}, only declared {sorted(PURE - ruff_pure)}"
    )


def test_mypy_holds_every_pure_module_to_its_strict_flags() -> None:
    strict = [
        set(o["module"])
        for o in PYPROJECT["tool"]["mypy"]["overrides"]
        if o.get("disallow_untyped_defs") and o.get("disallow_any_generics")
    ]
    assert len(strict) == 1
    missing = sorted(_module_name(p) for p in PURE if _module_name(p) not in strict[0])
    assert not missing, f"pure modules mypy does not check strictly: {missing}"


def test_every_module_that_calls_itself_pure_is_declared_pure() -> None:
    claims = set()
    for path in [*(ROOT / "src" / "fraudit").rglob("*.py"), *(ROOT / "bench").glob("*.py")]:
        if path.name == "__init__.py":  # a package's docstring describes its parts
            continue
        if re.search(r"\bpure\b", _docstring(path), re.IGNORECASE):
            claims.add(path.relative_to(ROOT).as_posix())
    undeclared = sorted(claims - PURE - NOT_A_PURITY_CLAIM.keys())
    assert not undeclared, f"docstrings call these pure, pyproject does not: {undeclared}"
    stale = sorted(p for p in NOT_A_PURITY_CLAIM if p not in claims)
    assert not stale, f"no longer mention purity, drop them from NOT_A_PURITY_CLAIM: {stale}"
