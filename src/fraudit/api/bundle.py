"""Building the Lambda bundle: vendor the fraudit source next to the Chalice app, then
`chalice package`. The bundle holds only the light core: our source, pydantic and chalice's
runtime; boto3 comes with the Lambda runtime, and nothing heavy is ever imported there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import fraudit

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


def package(app_dir: Path, out_dir: Path, stage: str = "dev", region: str = "us-east-1") -> Path:
    """`chalice package` (CloudFormation/SAM format); returns the deployment zip. Needs no
    AWS account: only PyPI, for the Lambda (manylinux) wheels of the requirements."""
    vendor_source(app_dir)
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
