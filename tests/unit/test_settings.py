from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from fraudit.db.connection import database_url
from fraudit.settings import Settings, setting_variables
from tests.conftest import REPO

pytestmark = pytest.mark.unit


def _example_variables() -> dict[str, str]:
    variables = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            variables[name] = value
    return variables


def _field_for(variable: str) -> tuple[str, ...]:
    """Where the variable's value lands: a field, or a model family's field."""
    try:
        return setting_variables()[variable]
    except KeyError:
        raise AssertionError(f"{variable} in .env.example has no Settings field") from None


def _as_init(example: dict[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for variable, value in example.items():
        *parents, name = _field_for(variable)
        target = values
        for key in parents:
            target = target.setdefault(key, {})  # type: ignore[assignment]
        target[name] = value or None
    families = values.get("families", {})
    for name, fields in families.items():  # None = unset, as the environment reads ""
        families[name] = {k: v for k, v in fields.items() if v is not None}
    return values


def test_every_example_variable_is_a_field_with_the_same_default(monkeypatch):
    for variable in _example_variables():
        monkeypatch.delenv(variable, raising=False)
    defaults = Settings(_env_file=None)
    from_example = Settings(_env_file=None, **_as_init(_example_variables()))
    assert defaults == from_example


def test_every_field_is_documented_in_the_example():
    documented = {_field_for(v) for v in _example_variables()}
    assert documented == set(setting_variables().values())


def test_environment_overrides_and_empty_means_unset(monkeypatch):
    monkeypatch.setenv("FRAUDIT_MODEL_SERVER_PORT", "9123")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:Pa55-w0rd@db/x")
    monkeypatch.setenv("FRAUDIT_API_KEY", "k3y-value")
    settings = Settings(_env_file=None)
    assert settings.model_server_port == 9123
    assert settings.aws_endpoint_url_sagemaker_runtime is None
    assert settings.api_key.get_secret_value() == "k3y-value"
    for secret in ("Pa55-w0rd", "k3y-value"):  # never printed, never logged
        assert secret not in repr(settings)
        assert secret not in str(settings)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FRAUDIT_LOG_LEVEL", "LOUD"),
        ("FRAUDIT_PRODUCTION_FRAUD_RATE", "0"),
        ("FRAUDIT_MODEL_SERVER_PORT", "70000"),
    ],
)
def test_bad_values_are_refused(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("FRAUDIT_").lower()):
        Settings(_env_file=None)


@mock_aws
def test_database_url_from_the_rds_secret_when_no_url_is_set(monkeypatch):
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(
        Name="rds!db", SecretString=json.dumps({"username": "admin", "password": "p/w"})
    )["ARN"]
    settings = Settings(
        _env_file=None, database_secret_id=arn, database_host="db.internal", database_name="fraudit"
    )
    assert database_url(settings, client) == ("postgresql://admin:p%2Fw@db.internal:5432/fraudit")
    # An explicit URL wins and the secret is not read.
    explicit = Settings(_env_file=None, database_url="postgresql://x@h/d", database_secret_id=arn)
    assert database_url(explicit, None) == "postgresql://x@h/d"
    assert database_url(Settings(_env_file=None), None) is None
