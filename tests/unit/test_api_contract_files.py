"""The API's documents and deployment files agree with the code."""

from __future__ import annotations

import json

import pytest

from fraudit.api.app import create_app
from fraudit.api.openapi import build_openapi
from fraudit.settings import Settings
from tests.conftest import REPO
from tests.unit.test_settings import _example_variables

pytestmark = pytest.mark.unit

CHALICE_DIR = REPO / "app" / "chalice"


def test_committed_openapi_is_the_generated_one():
    committed = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(build_openapi())), (
        "regenerate with: fraudit openapi > docs/openapi.json"
    )


def test_every_route_is_documented_and_every_documented_route_exists():
    app = create_app(service=lambda: None, settings=Settings(_env_file=None), api_key="")
    routes = {(path, method.lower()) for path, entries in app.routes.items() for method in entries}
    documented = {
        (path, method) for path, methods in build_openapi()["paths"].items() for method in methods
    }
    assert routes == documented


def test_chalice_config_uses_only_known_settings_and_no_secrets():
    config = json.loads((CHALICE_DIR / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False
    known = set(_example_variables())
    environments = [config["environment_variables"]] + [
        stage.get("environment_variables", {}) for stage in config["stages"].values()
    ]
    for environment in environments:
        assert set(environment) <= known, set(environment) - known
        assert "FRAUDIT_API_KEY" not in environment  # a secret: Secrets Manager only
    assert set(config["stages"]) == {"dev", "prod"}


def test_iam_policies_are_least_privilege():
    config = json.loads((CHALICE_DIR / ".chalice" / "config.json").read_text())
    for stage in config["stages"].values():
        policy = json.loads((CHALICE_DIR / ".chalice" / stage["iam_policy_file"]).read_text())
        actions = {}
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in statement["Action"]:
                assert "*" not in action
                actions[action] = statement
        assert set(actions) == {
            "sagemaker:InvokeEndpoint",
            "kinesis:PutRecord",
            "kinesis:PutRecords",
            "kms:GenerateDataKey",
            "s3:GetObject",
            "s3:ListBucket",
            "secretsmanager:GetSecretValue",
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        }
        invoke = actions["sagemaker:InvokeEndpoint"]["Resource"]
        assert sorted(r.rsplit("/", 1)[1] for r in invoke) == [
            "fraud-detection-anomaly-endpoint",
            "fraud-detection-xgb-endpoint",
        ]
        assert actions["kinesis:PutRecord"]["Resource"] == [
            "arn:aws:kinesis:*:*:stream/fraud-predictions"
        ]
        # Listing only tells a missing ruleset (404) from a refused read (403): one key.
        listing = actions["s3:ListBucket"]
        assert listing["Condition"] == {"StringEquals": {"s3:prefix": ["rules/ruleset.json"]}}
        wildcard = [s for s in policy["Statement"] if s["Resource"] == "*"]
        assert all("Condition" in s for s in wildcard)  # only KMS, scoped to Kinesis


def test_the_lambdas_packages_are_pinned_and_chalice_resolves_nothing():
    """The bundle's wheels are constraints.txt's pins, fetched for the Lambda's runtime by
    fraudit.api.bundle; chalice must not resolve other versions (or this machine's)."""
    from fraudit.api.bundle import LAMBDA_PACKAGES
    from fraudit.wheels import pinned

    assert len(pinned(REPO / "constraints.txt", LAMBDA_PACKAGES)) == len(LAMBDA_PACKAGES)
    lines = (CHALICE_DIR / "requirements.txt").read_text().splitlines()
    assert not [line for line in lines if line.split("#")[0].strip()]
