"""Binary wheels for where AWS runs fraudit, fetched with pip for another interpreter and
platform than this one (Glue, the dashboard's instance, the Lambda functions), at the
versions constraints.txt pins, so AWS runs what CI tested."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# Glue 5, the dashboard's Amazon Linux 2023 and Lambda's python3.12 runtime (also Amazon
# Linux 2023) have glibc 2.34: any manylinux wheel up to that runs there (pip takes only
# the tags it is given, so all are listed).
MANYLINUX = ("2_34", "2_28", "2_27", "2_24", "2_17")

# pydantic and pydantic-settings with what they import: fraudit's contracts and settings,
# wherever fraudit runs.
PYDANTIC_PACKAGES = (
    "pydantic",
    "pydantic-core",
    "pydantic-settings",
    "python-dotenv",
    "typing-extensions",
    "typing-inspection",
    "annotated-types",
)


def platform_tags(arch: str) -> list[str]:
    return [f"manylinux_{glibc}_{arch}" for glibc in MANYLINUX] + [f"manylinux2014_{arch}"]


def pip_platform(arch: str, python: str = "3.11") -> list[str]:
    """pip's options for binary wheels of CPython `python` on Linux `arch`."""
    return [
        "--only-binary=:all:",
        "--python-version",
        python,
        "--implementation",
        "cp",
        *[x for tag in platform_tags(arch) for x in ("--platform", tag)],
    ]


def pinned(constraints: Path, names: Sequence[str]) -> list[str]:
    """`name==version` for each name, from constraints.txt (a missing pin is an error)."""
    pins: dict[str, str] = {}
    for line in constraints.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    missing = [n for n in names if n not in pins]
    if missing:
        raise ValueError(f"{constraints} pins no version of {', '.join(missing)}")
    return [f"{name}=={pins[name]}" for name in names]


def run_pip(args: Sequence[str], say: Callable[[str], None]) -> None:
    command = [sys.executable, "-m", "pip", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args[:2])} failed:\n{result.stderr.strip()[-3000:]}")
    say(f"  pip {args[0]}{' --dry-run' if '--dry-run' in args else ''}: ok")
