from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from fraudit.api.wiring import load_policy, resolve_api_key
from fraudit.scoring.policy import DecisionPolicy, PolicyError
from fraudit.settings import Settings

POLICY = DecisionPolicy(version="p-42", decline_threshold=0.9, review_threshold=0.3,
                        anomaly_review_threshold=4.0, model_version="m-42")


@mock_aws
def test_policy_from_s3_at_cold_start():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="policy/policy.json", Body=POLICY.to_json())
    settings = Settings(_env_file=None, policy_s3_uri="s3://artifacts/policy/policy.json")
    assert load_policy(settings) == POLICY


@mock_aws
def test_policy_from_ssm_parameter():
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/fraudit/policy", Value=POLICY.to_json(), Type="String")
    assert load_policy(Settings(_env_file=None, policy_ssm_parameter="/fraudit/policy")) == POLICY


def test_policy_from_the_model_folder(trained, model_root):
    policy = load_policy(Settings(_env_file=None, model_dir=model_root))
    assert policy.model_version == trained.version


def test_missing_or_malformed_policy_locations_are_explained(tmp_path):
    with pytest.raises(PolicyError, match="train a model"):
        load_policy(Settings(_env_file=None, model_dir=tmp_path))
    with pytest.raises(PolicyError, match="s3://bucket/key"):
        load_policy(Settings(_env_file=None, policy_s3_uri="https://x/y"))


@mock_aws
def test_api_key_from_secrets_manager_plain_or_json(monkeypatch):
    monkeypatch.delenv("FRAUDIT_API_KEY", raising=False)
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="plain", SecretString="k-plain")
    secrets.create_secret(Name="doc", SecretString=json.dumps({"api_key": "k-json"}))
    assert resolve_api_key(Settings(_env_file=None, api_key_secret_id="plain")) == "k-plain"
    assert resolve_api_key(Settings(_env_file=None, api_key_secret_id="doc")) == "k-json"
    assert resolve_api_key(Settings(_env_file=None)) is None
    assert resolve_api_key(Settings(_env_file=None, api_key="k-env")) == "k-env"
