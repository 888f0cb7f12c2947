"""A model family is written once: a third family, declared as ULB and cards are and with a
code folder of its own (tests/support/toy_family), is picked up by the settings, the API's
wiring and predict service, the local model server and the deploy plan, none of which is
changed for it."""

from __future__ import annotations

import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from fraudit.api.openapi import build_openapi
from fraudit.api.service import PredictService
from fraudit.api.wiring import build_models, build_publisher
from fraudit.deploy.aws import DeployAws
from fraudit.deploy.commands import Deployer
from fraudit.deploy.outputs import StackOutputs
from fraudit.families import families, registered
from fraudit.models.layout import LATEST, MANIFEST_FILE, POLICY_FILE
from fraudit.models.server import ModelServer, family_endpoints
from fraudit.scoring.policy import DecisionPolicy
from fraudit.settings import Settings
from tests.support.api import STREAM, private_store, read_stream
from tests.support.toy_family import TOY

pytestmark = pytest.mark.integration

TOY_POLICY = DecisionPolicy(
    version="toy-policy-1",
    decline_threshold=0.9,
    review_threshold=0.5,
    anomaly_review_threshold=10.0,
    model_version="toy-1",
)


@pytest.fixture
def model_dir(tmp_path, trained) -> Path:
    """The session's ULB model (the API needs it) and a stored toy model, under one folder."""
    root = tmp_path / "models"
    root.mkdir()
    (root / trained.version).symlink_to(trained.path, target_is_directory=True)
    (root / LATEST).write_text(trained.version)
    toy = root / TOY.artifact_dir / "toy-1"
    toy.mkdir(parents=True)
    (toy / MANIFEST_FILE).write_text("{}")
    (toy / POLICY_FILE).write_text(TOY_POLICY.to_json())
    (toy.parent / LATEST).write_text("toy-1")
    return root


def _toy_request(first: float, second: float) -> dict:
    when = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return {
        "metadata": {"timestamp": when, "user_id": "u-1", "transaction_id": f"toy-{first}"},
        "toy": [first, second],
    }


def test_a_registered_family_reaches_settings_service_model_server_and_deploy(
    model_dir, monkeypatch, tmp_path
):
    monkeypatch.setenv("FRAUDIT_TOY_CLASSIFIER_ENDPOINT", "toy-classifier-from-env")
    with registered(TOY):
        assert TOY in families()
        settings = Settings(_env_file=None, model_dir=model_dir, scorer="in-process")
        assert settings.family(TOY).classifier_endpoint == "toy-classifier-from-env"
        assert settings.family(TOY).anomaly_endpoint == TOY.default_anomaly_endpoint

        # The API: its models, its contract in the OpenAPI document, a scored request.
        models = build_models(settings)
        assert set(models) == {"ulb", "toy"}  # no card model in this folder
        document = build_openapi(settings, served=set(models))
        assert "ToyRequest" in document["components"]["schemas"]
        with mock_aws():
            kinesis = boto3.client("kinesis", region_name="us-east-1")
            kinesis.create_stream(StreamName=STREAM, ShardCount=1)
            service = PredictService(
                build_publisher(settings.model_copy(update={"stream_name": STREAM})),
                models,
                store=private_store(),
            )
            assert service.health()["toy_model_version"] == "toy-1"
            declined = service.predict(_toy_request(95.0, 1.0))
            approved = service.predict(_toy_request(10.0, 1.0))
            assert (declined.status, declined.body["decision"]) == (200, "decline")
            assert (approved.status, approved.body["decision"]) == (200, "approve")
            assert declined.body["model_version"] == "toy-1"
            events = read_stream(kinesis)
        assert sorted(e["amount"] for e in events) == [10.0, 95.0]

        # The local model server: the toy endpoints beside the ULB ones, named by settings.
        endpoints = family_endpoints(model_dir, settings)
        names = {e.name for e in endpoints}
        assert {"toy-classifier-from-env", TOY.default_anomaly_endpoint} <= names
        server = ModelServer(("127.0.0.1", 0), endpoints, max_body_bytes=1 << 20)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            request = urllib.request.Request(
                f"{server.url}/endpoints/toy-classifier-from-env/invocations",
                data=TOY.csv_row([40.0, 2.0]).encode(),
                headers={"Content-Type": "text/csv"},
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert float(answer.read()) == pytest.approx(0.4)
        finally:
            server.shutdown()
            server.server_close()

        # The deploy plan: its prefix, policy key and Terraform variable.
        with mock_aws():
            outputs = StackOutputs(
                AWS_REGION="us-east-1",
                FRAUDIT_STREAM_NAME="s",
                FRAUDIT_CLASSIFIER_ENDPOINT="c",
                FRAUDIT_ANOMALY_ENDPOINT="a",
                FRAUDIT_TOY_CLASSIFIER_ENDPOINT="toy-c",
                FRAUDIT_TOY_ANOMALY_ENDPOINT="toy-a",
                FRAUDIT_POLICY_S3_URI="s3://b/policy/policy.json",
                FRAUDIT_DATABASE_SECRET_ID="x",
                FRAUDIT_DATABASE_HOST="h",
                FRAUDIT_DATABASE_PORT=5432,
                FRAUDIT_DATABASE_NAME="d",
                artifacts_bucket="b",
                checkpoints_bucket="c",
                glue_job_name="g",
                sagemaker_role_arn="arn:aws:iam::123456789012:role/r",
                kms_key_arn="k",
                xgboost_image_tag="3.0-5",
                xgboost_image_uri="x",
                sklearn_image_uri="s",
            )
            deployer = Deployer(
                repo=tmp_path,
                build_dir=tmp_path / "build",
                infra_dir=tmp_path,
                model_dir=model_dir,
                outputs=outputs,
                aws=DeployAws("us-east-1"),
                say=lambda _: None,
                family=TOY,
            )
            (model_dir / "toy" / "toy-1" / "classifier").mkdir()
            (model_dir / "toy" / "toy-1" / "anomaly").mkdir()
            for name in ("classifier/model.tar.gz", "anomaly/model.tar.gz"):
                (model_dir / "toy" / "toy-1" / name).write_bytes(b"toy")
            artifacts, tfvars = deployer.artifacts(deployer.model_version(None))
        keys = {a.key for a in artifacts}
        assert "models/toy/toy-1/policy.json" in keys
        assert TOY.policy_key in keys
        assert tfvars["toy_model_version"] == "toy-1"
        assert deployer.endpoint_names() == ("toy-c", "toy-a")
    assert TOY not in families()  # registered for the test only
