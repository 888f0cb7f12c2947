"""The Lambda bundle, built offline with `chalice package`, holds only the light core,
only wheels that load on the Lambda's runtime (CPython 3.12, x86_64, glibc 2.34), and
runs without any site-packages but what the Lambda runtime provides (boto3)."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fraudit.api.bundle import HEAVY_PACKAGES, LAMBDA_PYTHON, package
from fraudit.wheels import MANYLINUX
from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LAMBDA_RUNTIME_LIBS = (
    "boto3",
    "botocore",
    "jmespath",
    "s3transfer",
    "urllib3",
    "dateutil",
    "six.py",
)


@pytest.fixture(scope="module")
def bundle_zip(tmp_path_factory) -> Path:
    return package(REPO / "app" / "chalice", tmp_path_factory.mktemp("lambda"), "dev")


def lambda_python() -> str | None:
    """A CPython of the Lambda's version on this machine (pyenv's, or on PATH) that runs."""
    pyenv = os.path.expanduser(f"~/.pyenv/versions/{LAMBDA_PYTHON}.*/bin/python{LAMBDA_PYTHON}")
    candidates = [*sorted(glob.glob(pyenv)), shutil.which(f"python{LAMBDA_PYTHON}")]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(
            tuple(map(int, LAMBDA_PYTHON.split(".")))
        ):
            return candidate
    return None


@pytest.fixture(scope="module")
def runnable_bundle(tmp_path_factory, bundle_zip) -> tuple[Path, str]:
    """The bundle and an interpreter to run it: the Lambda's own bundle under a CPython of
    the Lambda's version where this machine has one (CI does); else the same bundle built
    for this interpreter, which runs the same code and imports (the wheels' platform is
    checked by test_the_bundle_holds_only_wheels_that_load_on_the_lambda_runtime)."""
    interpreter = lambda_python()
    if interpreter is not None:
        return bundle_zip, interpreter
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    out = tmp_path_factory.mktemp("lambda-here")
    return package(REPO / "app" / "chalice", out, "dev", python=here), sys.executable


def test_the_bundle_holds_only_wheels_that_load_on_the_lambda_runtime(bundle_zip):
    """Every compiled module is CPython 3.12's for x86_64 Linux, and every wheel's tags are
    pure or manylinux up to glibc 2.34 (Amazon Linux 2023); CEL's runtime is among them."""
    abi = f"cpython-{LAMBDA_PYTHON.replace('.', '')}-x86_64-linux-gnu"
    with zipfile.ZipFile(bundle_zip) as archive:
        names = archive.namelist()
        compiled = [n for n in names if n.endswith(".so")]
        tags = [
            line.removeprefix("Tag: ").strip()
            for name in names
            if name.endswith(".dist-info/WHEEL")
            for line in archive.read(name).decode().splitlines()
            if line.startswith("Tag: ")
        ]
    assert any(n.startswith("cel_expr_python/") for n in compiled)
    assert compiled
    assert all(f".{abi}.so" in n or n.endswith(".abi3.so") for n in compiled), compiled
    allowed = {f"manylinux_{g}_x86_64" for g in MANYLINUX} | {"manylinux2014_x86_64", "any"}
    for tag in tags:
        python, _, platform = tag.split("-")
        assert platform in allowed, tag
        assert python in ("py3", f"cp{LAMBDA_PYTHON.replace('.', '')}", "py2.py3"), tag
    assert re.search(r"cel_expr_python-[0-9.]+\.dist-info/WHEEL", "\n".join(names))


def test_bundle_holds_only_the_light_core(bundle_zip):
    assert bundle_zip.stat().st_size < 50 * 2**20
    with zipfile.ZipFile(bundle_zip) as archive:
        names = archive.namelist()
        unpacked = sum(info.file_size for info in archive.infolist())
    tops = {name.split("/")[0] for name in names}
    assert {"app.py", "fraudit", "pydantic", "pydantic_core", "chalice"} <= tops
    for heavy in HEAVY_PACKAGES:
        assert not any(t == heavy or t.startswith(heavy + "-") for t in tops), heavy
    assert unpacked < 50 * 2**20
    sam = json.loads((bundle_zip.parent / "sam.json").read_text())
    function = next(
        r for r in sam["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
    )
    assert function["Properties"]["Runtime"].startswith("python3.")
    assert "FRAUDIT_POLICY_S3_URI" in function["Properties"]["Environment"]["Variables"]


def test_bundle_runs_with_only_what_lambda_provides(runnable_bundle, tmp_path, model_root, trained):
    bundle, interpreter = runnable_bundle
    code = tmp_path / "task"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(code)
    runtime = tmp_path / "runtime"  # stands for the boto3 the Lambda runtime ships
    runtime.mkdir()
    site = Path(__import__("boto3").__file__).parents[1]
    for lib in LAMBDA_RUNTIME_LIBS:
        (runtime / lib).symlink_to(site / lib)
    event = {
        "resource": "/health",
        "path": "/health",
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": "/health",
            "httpMethod": "GET",
            "path": "/api/health",
            "stage": "api",
        },
    }
    script = f"""
import json, sys
sys.path[:0] = [{str(code)!r}, {str(runtime)!r}]
import app
answer = app.app({json.dumps(event)!r} and json.loads({json.dumps(event)!r}), None)
heavy = [m for m in {list(HEAVY_PACKAGES)!r} if m in sys.modules]
print(json.dumps({{"status": answer["statusCode"], "body": json.loads(answer["body"]),
                  "heavy": heavy}}))
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "FRAUDIT_MODEL_DIR": str(model_root),
    }
    result = subprocess.run(
        [interpreter, "-S", "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 200, outcome
    assert outcome["body"]["model_version"] == trained.version
    assert outcome["heavy"] == []
