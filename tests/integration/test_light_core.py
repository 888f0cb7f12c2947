"""The light core stays light: `fraudit api`, `fraudit dashboard` and `fraudit deploy
build|upload|env` run in processes where the packages their extras do not bring cannot
be imported at all (tests.support.blocked_imports): a stray top-level import of xgboost,
scikit-learn, pandas or pyspark makes these commands fail here, as it would in a
virtualenv with only their extras."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest

from fraudit.models.layout import DEPLOYED_FILES, LATEST, MANIFEST_FILE, POLICY_FILE
from fraudit.scoring.policy import DecisionPolicy
from tests.conftest import REPO
from tests.integration.test_deploy import terraform_output_json
from tests.support.api import payload
from tests.support.blocked_imports import ENV, sitecustomize_for
from tests.support.processes import free_port, stop, wait_for_http
from tests.support.redis_keys import new_prefix

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODELS_EXTRA = ("xgboost", "sklearn", "scipy", "numpy", "pandas")
STREAM_EXTRA = ("pyspark", "pyarrow")
# What each command may not import: everything beyond its own extras.
NOT_FOR_API = (*MODELS_EXTRA, *STREAM_EXTRA, "streamlit", "psycopg", "matplotlib")
NOT_FOR_DASHBOARD = ("xgboost", "sklearn", "scipy", *STREAM_EXTRA, "chalice", "matplotlib")
NOT_FOR_DEPLOY = (*MODELS_EXTRA, *STREAM_EXTRA, "streamlit", "psycopg", "matplotlib")


def light_env(tmp_path: Path, blocked: tuple[str, ...], **extra: str) -> dict[str, str]:
    site = sitecustomize_for(tmp_path / "blocked-site", REPO)
    return {**os.environ, "PYTHONPATH": str(site), ENV: ",".join(blocked), **extra}


def fraudit(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fraudit.cli", *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def test_the_block_really_blocks(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import xgboost"],
        capture_output=True,
        text=True,
        env=light_env(tmp_path, ("xgboost",)),
        check=False,
    )
    assert result.returncode != 0
    assert "blocked" in result.stderr


def test_api_scores_and_publishes_without_the_heavy_packages(
    tmp_path, model_server, kinesis_emulator, bundle
):
    # The policy the API reads locally, laid out as `fraudit train` writes it.
    models = tmp_path / "models"
    (models / bundle.version).mkdir(parents=True)
    (models / bundle.version / POLICY_FILE).write_text(bundle.policy.to_json())
    (models / bundle.version / MANIFEST_FILE).write_text("{}")
    (models / LATEST).write_text(bundle.version)
    port = free_port()
    env = light_env(
        tmp_path,
        NOT_FOR_API,
        AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=model_server,
        AWS_ENDPOINT_URL_KINESIS=kinesis_emulator.url,
        FRAUDIT_MODEL_DIR=str(models),
        FRAUDIT_STREAM_NAME="fraud-predictions",
        FRAUDIT_REDIS_KEY_PREFIX=new_prefix(),
    )
    process = fraudit(["api", "--port", str(port), "--workers", "1"], env, tmp_path / "api.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process, timeout=60)
        request = urllib.request.Request(
            f"{url}/predict",
            data=json.dumps(payload(3)).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert response.status == 200
        assert answer["model_version"] == bundle.version
    finally:
        stop(process)
    assert "blocked" not in (tmp_path / "api.log").read_text()


def test_dashboard_serves_without_the_models_or_the_stream(tmp_path, database):
    port = free_port()
    env = light_env(tmp_path, NOT_FOR_DASHBOARD, DATABASE_URL=database)
    imported = subprocess.run(
        [sys.executable, "-c", "import fraudit.dashboard.app"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    process = fraudit(["dashboard", "--port", str(port)], env, tmp_path / "dashboard.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", process, timeout=90)
    finally:
        stop(process)


@pytest.fixture
def moto_server(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/", process, timeout=60)
        yield url
    finally:
        stop(process)


def test_deploy_build_upload_env_without_the_models_or_the_stream(tmp_path, moto_server):
    region = "eu-west-1"
    kms = boto3.client("kms", region_name=region, endpoint_url=moto_server)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    boto3.client("s3", region_name=region, endpoint_url=moto_server).create_bucket(
        Bucket="fraudit-dev-artifacts", CreateBucketConfiguration={"LocationConstraint": region}
    )
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(terraform_output_json(key_arn)))
    # A bundle's files as training leaves them (their contents do not matter to upload).
    models = tmp_path / "models"
    for name in DEPLOYED_FILES:
        (models / "v1" / name).parent.mkdir(parents=True, exist_ok=True)
        (models / "v1" / name).write_bytes(b"{}")
    (models / "v1" / POLICY_FILE).write_text(DecisionPolicy("p-1", 0.9, 0.3).to_json())
    (models / LATEST).write_text("v1")
    env = light_env(tmp_path, NOT_FOR_DEPLOY, AWS_ENDPOINT_URL=moto_server)
    common = [
        "deploy",
        "--repo",
        str(REPO),
        "--outputs",
        str(outputs),
        "--build-dir",
        str(tmp_path / "build"),
        "--model-dir",
        str(models),
        "--infra",
        str(tmp_path / "infra"),
    ]
    for step in (
        ["build", "--only", "glue"],
        ["upload"],
        ["env", "--out", str(tmp_path / ".env.aws")],
    ):
        log = tmp_path / f"deploy-{step[0]}.log"
        process = fraudit([*common, *step], env, log)
        assert process.wait(600) in (0, 1), log.read_text()  # 1: env found no secret
        assert "blocked" not in log.read_text(), log.read_text()
    keys = {
        o["Key"]
        for o in boto3.client("s3", region_name=region, endpoint_url=moto_server).list_objects_v2(
            Bucket="fraudit-dev-artifacts"
        )["Contents"]
    }
    assert {"glue/fraudit-glue.gluewheels.zip", f"models/v1/{POLICY_FILE}"} <= keys
    assert "FRAUDIT_STREAM_NAME=fraudit-dev-predictions" in (tmp_path / ".env.aws").read_text()
