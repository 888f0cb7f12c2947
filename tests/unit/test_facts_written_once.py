"""Each fact of the house is written in one module, which every user imports: a string
literal naming it anywhere else in the code (docstrings aside) is a second copy that can
drift from the first."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.unit

CODE_FOLDERS = ("src", "bench", "scripts", "app", "frontend")
BUNDLE_FILES = (
    "LATEST",
    "policy.json",
    "manifest.json",
    "metrics.json",
    "MODEL_CARD.md",
    "evaluation.json",
    "classifier/model.tar.gz",
    "anomaly/model.tar.gz",
    "xgboost-model",
)
HOME = {
    **dict.fromkeys(("approve", "review", "decline"), "src/fraudit/decisions.py"),
    "fraud-predictions": "src/fraudit/settings.py",
    **dict.fromkeys(BUNDLE_FILES, "src/fraudit/models/layout.py"),
}
# The same word meaning something else, where it means that.
OTHER_MEANINGS = {
    (
        "LATEST",
        "src/fraudit/stream/kinesis_offsets.py",
    ): "Kinesis's name of the 'newest records' starting position",
    ("review", "src/fraudit/labels/contract.py"): "a label's source: an analyst's review",
}


def string_literals(tree: ast.AST) -> set[str]:
    """Every str constant that is not a docstring."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


def code_modules() -> dict[str, set[str]]:
    modules = {}
    for folder in CODE_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            if "vendor" in path.parts or ".venv" in path.parts:
                continue
            name = path.relative_to(REPO).as_posix()
            modules[name] = string_literals(ast.parse(path.read_text(encoding="utf-8")))
    return modules


def test_each_fact_is_a_literal_in_its_home_module_only():
    found: dict[str, list[str]] = {fact: [] for fact in HOME}
    for name, literals in code_modules().items():
        for fact in HOME.keys() & literals:
            if (fact, name) not in OTHER_MEANINGS:
                found[fact].append(name)
    misplaced = {fact: places for fact, places in found.items() if places != [HOME[fact]]}
    assert not misplaced, f"facts written outside their home module: {misplaced}"


def test_the_literal_scan_sees_code_and_skips_docstrings():
    tree = ast.parse('"""approve"""\ndef f():\n    """review"""\n    return "decline"\n')
    assert string_literals(tree) == {"decline"}
