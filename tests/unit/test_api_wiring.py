from __future__ import annotations

import json
from dataclasses import replace

import boto3
import pytest
from moto import mock_aws

from fraudit.api.wiring import ApiKeyError, load_policy, resolve_api_key
from fraudit.families.ulb import ULB
from fraudit.models.layout import LATEST, MANIFEST_FILE, POLICY_FILE
from fraudit.scoring.policy import DecisionPolicy, PolicyError
from fraudit.settings import Settings

pytestmark = pytest.mark.unit

POLICY = DecisionPolicy(
    version="p-42",
    decline_threshold=0.9,
    review_threshold=0.3,
    anomaly_review_threshold=4.0,
    model_version="m-42",
)


@mock_aws
def test_policy_from_s3_at_cold_start():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="policy/policy.json", Body=POLICY.to_json())
    settings = Settings(
        _env_file=None, families={"ulb": {"policy_s3_uri": "s3://artifacts/policy/policy.json"}}
    )
    assert load_policy(settings, ULB) == POLICY


@mock_aws
def test_policy_from_ssm_parameter():
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/fraudit/policy", Value=POLICY.to_json(), Type="String"
    )
    assert (
        load_policy(
            Settings(_env_file=None, families={"ulb": {"policy_ssm_parameter": "/fraudit/policy"}}),
            ULB,
        )
        == POLICY
    )


def test_policy_from_the_model_folder(tmp_path):
    # The bundle layout as `fraudit train` writes it: LATEST names the newest version.
    for version, policy in (
        ("v1", replace(POLICY, model_version="v1")),
        ("v2", replace(POLICY, model_version="v2")),
    ):
        (tmp_path / version).mkdir()
        (tmp_path / version / MANIFEST_FILE).write_text("{}")
        (tmp_path / version / POLICY_FILE).write_text(policy.to_json())
    (tmp_path / LATEST).write_text("v1\n")
    assert load_policy(Settings(_env_file=None, model_dir=tmp_path), ULB).model_version == "v1"
    pinned = Settings(_env_file=None, model_dir=tmp_path, families={"ulb": {"model_version": "v2"}})
    assert load_policy(pinned, ULB).model_version == "v2"
    with pytest.raises(PolicyError, match="not found"):
        load_policy(
            Settings(_env_file=None, model_dir=tmp_path, families={"ulb": {"model_version": "v3"}}),
            ULB,
        )


def test_missing_or_malformed_policy_locations_are_explained(tmp_path):
    with pytest.raises(PolicyError, match="train a model"):
        load_policy(Settings(_env_file=None, model_dir=tmp_path), ULB)
    with pytest.raises(PolicyError, match="s3://bucket/key"):
        load_policy(
            Settings(_env_file=None, families={"ulb": {"policy_s3_uri": "https://x/y"}}), ULB
        )


@mock_aws
def test_api_key_from_secrets_manager_plain_or_json(monkeypatch):
    monkeypatch.delenv("FRAUDIT_API_KEY", raising=False)
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    plain, document, env = "k-plain-0123456789abcdef", "k-json-0123456789abcdef", "k-env-" * 4
    secrets.create_secret(Name="plain", SecretString=plain)
    secrets.create_secret(Name="doc", SecretString=json.dumps({"api_key": document}))
    assert resolve_api_key(Settings(_env_file=None, api_key_secret_id="plain")) == plain
    assert resolve_api_key(Settings(_env_file=None, api_key_secret_id="doc")) == document
    assert resolve_api_key(Settings(_env_file=None)) is None
    assert resolve_api_key(Settings(_env_file=None, api_key=env)) == env


@pytest.mark.parametrize(
    "secret",
    [
        '{"api_key": ""}',
        '{"api_key": null}',
        '{"key": "0123456789abcdefghij"}',
        "{not json",
        " ",
        "short",
    ],
)
@mock_aws
def test_an_empty_or_malformed_key_secret_stops_the_api_instead_of_opening_it(monkeypatch, secret):
    """Main: `{"api_key": ""}` returned "" and the app treated it as no key: an open API."""
    monkeypatch.delenv("FRAUDIT_API_KEY", raising=False)
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="bad", SecretString=secret
    )
    with pytest.raises(ApiKeyError):
        resolve_api_key(Settings(_env_file=None, api_key_secret_id="bad"))


def test_an_api_key_from_the_environment_is_checked_too():
    with pytest.raises(ApiKeyError):
        resolve_api_key(Settings(_env_file=None, api_key="   "))
