"""Building the Lambda bundle: vendor the fraudit source and the Lambda's binary wheels next
to the Chalice app, then `chalice package`. The bundle holds only the light core: our
source, pydantic, redis, CEL (the rules) and chalice's runtime; boto3 comes with the Lambda
runtime, and nothing heavy is ever imported there.

The wheels are fetched for the Lambda's interpreter and platform (CPython 3.12, Linux
x86_64, glibc 2.34), not this machine's: CEL's runtime ships manylinux_2_28 wheels only,
which Amazon Linux 2 (python3.11's runtime, glibc 2.26) cannot load."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import fraudit
from fraudit.wheels import PYDANTIC_PACKAGES, pinned, pip_platform, run_pip

# The Lambda function's runtime (devops/infra/api.tf) and what it imports beyond boto3, at
# constraints.txt's versions.
LAMBDA_PYTHON = "3.12"
LAMBDA_ARCH = "x86_64"
LAMBDA_PACKAGES = (
    *PYDANTIC_PACKAGES,
    "redis",
    "hiredis",
    "cel-expr-python",
)
# What those wheels carry that the API never imports: CEL's optional extensions (37 MB of
# the 52 MB cel-expr-python unpacks to; fraudit's rules use the standard library only) and
# a build folder its wheel ships by mistake. Lambda unpacks every byte on a cold start.
LAMBDA_UNUSED = ("cel_expr_python/ext", "bazel-project")

HEAVY_PACKAGES = (
    "pyspark",
    "xgboost",
    "pandas",
    "sklearn",
    "scikit_learn",
    "numpy",
    "scipy",
    "streamlit",
)


def vendor_source(app_dir: Path) -> Path:
    """Copy the fraudit package into <app_dir>/vendor (Chalice zips vendor/ at the root)."""
    target = Path(app_dir) / "vendor" / "fraudit"
    if target.exists():
        shutil.rmtree(target)
    source = Path(fraudit.__file__).parent
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "*.csv"),
    )
    return target


def vendor_dependencies(app_dir: Path, constraints: Path, python: str = LAMBDA_PYTHON) -> Path:
    """Install LAMBDA_PACKAGES' wheels for CPython `python` on Lambda's platform into
    <app_dir>/vendor, beside the source (no dependency resolution: exactly the pins)."""
    target = Path(app_dir) / "vendor"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        if old.name != "fraudit":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    platform = pip_platform(LAMBDA_ARCH, python)
    install = ["install", "--quiet", "--no-deps", "--no-compile", "--target", str(target)]
    run_pip([*install, *platform, *pinned(constraints, LAMBDA_PACKAGES)], lambda _: None)
    for unused in LAMBDA_UNUSED:
        shutil.rmtree(target / unused, ignore_errors=True)
    return target


def package(
    app_dir: Path,
    out_dir: Path,
    stage: str = "dev",
    region: str = "us-east-1",
    python: str = LAMBDA_PYTHON,
) -> Path:
    """`chalice package` (CloudFormation/SAM format); returns the deployment zip. Needs no
    AWS account: only PyPI, for the Lambda's wheels (`python`: the interpreter they are
    for; Lambda's by default)."""
    vendor_source(app_dir)
    vendor_dependencies(app_dir, Path(app_dir).resolve().parents[1] / "constraints.txt", python)
    chalice = Path(sys.executable).with_name("chalice")
    command = [
        str(chalice) if chalice.exists() else "chalice",
        "package",
        "--stage",
        stage,
        str(Path(out_dir).resolve()),
    ]
    env = {**os.environ, "AWS_DEFAULT_REGION": region}
    result = subprocess.run(
        command, cwd=app_dir, capture_output=True, text=True, timeout=900, check=False, env=env
    )
    if result.returncode != 0:
        raise RuntimeError(f"chalice package failed:\n{result.stdout}\n{result.stderr}")
    return Path(out_dir) / "deployment.zip"
