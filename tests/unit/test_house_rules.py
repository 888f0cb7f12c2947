"""The rules of the house (docs/ARCHITECTURE.md) that can be read off the source: which
modules are pure, declared once and applied by ruff and mypy alike."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from fraudit.families import families

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PURE = set(PYPROJECT["tool"]["fraudit"]["pure-modules"])

# Modules whose docstring uses the word for a part of them or in another sense: each says
# what is pure, and the module itself does I/O.
NOT_A_PURITY_CLAIM = {
    "src/fraudit/local/demo.py": "`plan()` is pure; the module runs the processes",
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


# --- model families: declared once, looped over everywhere else ----------------------------

FAMILY_NAMES = {f.name for f in families()}
FAMILY_HOMES = [ROOT / "src" / "fraudit" / "families"] + [
    ROOT / "src" / Path(*f.package.split(".")) for f in families()
]


def _outside_family_homes() -> list[Path]:
    return [
        path
        for path in sorted((ROOT / "src" / "fraudit").rglob("*.py"))
        if not any(path.is_relative_to(home) for home in FAMILY_HOMES)
    ]


def _family_constant(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value in FAMILY_NAMES


def _family_branches(tree: ast.AST) -> list[tuple[int, str]]:
    """Comparisons with a family's name, dicts keyed by family names, and attributes of a
    family enum: what a module that loops over `fraudit.families.families()` never needs."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for operand in operands:
                elements = (
                    operand.elts
                    if isinstance(operand, ast.Tuple | ast.List | ast.Set)
                    else [operand]
                )
                if any(_family_constant(e) for e in elements):
                    found.append((node.lineno, "compares with a family's name"))
        elif isinstance(node, ast.Dict) and any(
            k is not None and _family_constant(k) for k in node.keys
        ):
            found.append((node.lineno, "a dict keyed by family names"))
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "Family"
        ):
            found.append((node.lineno, "a Family enum member"))
    return found


def test_no_module_outside_the_family_homes_branches_on_a_family() -> None:
    branches = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in _outside_family_homes()
        for line, what in _family_branches(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not branches, "\n".join(branches)


def test_the_branch_finder_finds_what_it_looks_for() -> None:
    source = (
        'if args.dataset == "cards":\n    pass\n'
        'PREFIX = {"ulb": "models"}\n'
        "x = Family.CARDS\n"
        'ok = "cards" + suffix\n'
    )
    assert [line for line, _ in _family_branches(ast.parse(source))] == [1, 3, 4]


# --- layers: imports run down, never up ------------------------------------------------------

# The packages and modules of fraudit by layer, lowest first (docs/ARCHITECTURE.md, "Layers").
# A module imports from its own layer or below; fraudit.cli (the `fraudit` command, a module
# per capability) is the entry layer, which nothing else imports.
LAYERS: dict[str, set[str]] = {
    "core": {
        "__init__", "aws_clients", "backoff", "card_numbers", "console", "contracts", "deadline",
        "decisions", "errors", "families", "features", "files", "logs", "machine", "wheels",
        "schema_versions",
        "settings", "ulb_vector", "validity",
    },
    "parts": {
        "data", "db", "http_server", "labels", "online", "publishing", "rules", "scoring",
    },
    "capabilities": {"api", "backtest", "dashboard", "models", "simulator", "stream"},
    "operations": {"deploy", "local", "ops", "soak"},
}  # fmt: skip
RANK = {name: rank for rank, names in enumerate(LAYERS.values()) for name in names}
ENTRY = len(LAYERS)


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT / "src").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _rank(module: str) -> int:
    parts = module.split(".")
    if parts[:2] == ["fraudit", "cli"]:
        return ENTRY
    top = parts[1] if len(parts) > 1 else "__init__"
    return RANK[top]


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("fraudit")]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("fraudit")
        ):
            out.append((node.lineno, str(node.module)))
    return out


def test_every_package_has_a_layer() -> None:
    tops = {
        p.stem if p.is_file() else p.name
        for p in (ROOT / "src" / "fraudit").iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.name != "cli"
    }
    assert tops == set(RANK), (
        f"unlayered {sorted(tops - set(RANK))}, gone {sorted(set(RANK) - tops)}"
    )


def test_no_import_runs_up_a_layer() -> None:
    upward = []
    for path in sorted((ROOT / "src" / "fraudit").rglob("*.py")):
        module = _module_of(path)
        for line, imported in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if imported == "fraudit":
                continue
            if _rank(imported) > _rank(module):
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not upward, "\n".join(upward)


def test_nothing_but_an_entry_point_imports_the_cli() -> None:
    users = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "src").rglob("*.py"))
        for line, imported in _imports(ast.parse(path.read_text(encoding="utf-8")))
        if imported == "fraudit.cli" and _rank(_module_of(path)) != ENTRY
    ]
    assert not users, users
