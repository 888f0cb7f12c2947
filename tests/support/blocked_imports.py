"""Make packages impossible to import, to prove code runs without them: `tests/unit`
runs with pyspark and xgboost blocked (`make unit`), and the light-core test starts the
light commands with every heavy package blocked.

As a pytest plugin (`-p tests.support.blocked_imports`) it blocks the top-level packages
named in FRAUDIT_BLOCKED_IMPORTS (comma-separated) before any test module is imported;
`sitecustomize_for` writes a sitecustomize module that does the same in a child process
and in whatever that process execs.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ENV = "FRAUDIT_BLOCKED_IMPORTS"


class BlockedImport(importlib.abc.MetaPathFinder):
    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.partition(".")[0] in self.names:
            raise ImportError(
                f"{fullname} is blocked here ({ENV}): this code must run without it", name=fullname
            )


def install(names: Sequence[str]) -> None:
    loaded = sorted(n for n in sys.modules if n.partition(".")[0] in set(names))
    if loaded:
        raise RuntimeError(f"already imported before the block: {', '.join(loaded)}")
    sys.meta_path.insert(0, BlockedImport(names))


def install_from_env() -> None:
    names = [n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()]
    if names:
        install(names)


def pytest_configure(config: Any) -> None:
    install_from_env()


def sitecustomize_for(folder: Path, repo: Path) -> Path:
    """A folder to put first on PYTHONPATH: its sitecustomize blocks FRAUDIT_BLOCKED_IMPORTS
    at interpreter start."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(repo)!r})\n"
        "from tests.support.blocked_imports import install_from_env\ninstall_from_env()\n"
    )
    return folder
