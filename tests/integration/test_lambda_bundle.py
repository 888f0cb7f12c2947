"""The Lambda bundle, built offline with `chalice package`, holds only the light core and
runs without any site-packages but what the Lambda runtime provides (boto3)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fraudit.api.bundle import HEAVY_PACKAGES, package
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


def test_bundle_runs_with_only_what_lambda_provides(bundle_zip, tmp_path, model_root, trained):
    code = tmp_path / "task"
    with zipfile.ZipFile(bundle_zip) as archive:
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
        [sys.executable, "-S", "-c", script],
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
