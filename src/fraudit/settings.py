"""One typed Settings object, read from the environment and an optional `.env` file.

Every field is listed in `.env.example` with the same default; `tests/unit/test_settings.py`
keeps the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from fraudit.deadline import DEFAULT_SHADOW_TIMEOUT
from fraudit.families import FamilySettings, ModelFamily, families
from fraudit.validity import DEFAULT_MAX_EVENT_AGE, MAX_EVENT_AGE_LIMIT

# The scored-events stream: the API publishes to it, the stream job reads it.
DEFAULT_STREAM_NAME = "fraud-predictions"


def _env(name: str) -> AliasChoices:
    """Accept the variable under its exact (unprefixed) name, as AWS tooling spells it."""
    return AliasChoices(name, name.lower())


class _FamilyVariables(PydanticBaseSettingsSource):
    """Each declared family's settings from its own variables (`ModelFamily.variable`:
    FRAUDIT_CLASSIFIER_ENDPOINT for the first family, FRAUDIT_CARD_MODEL_VERSION, ...): the
    environment over `.env`, an empty value unset. Nested under `families.<name>`."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        env: PydanticBaseSettingsSource,
        dotenv: PydanticBaseSettingsSource,
    ) -> None:
        super().__init__(settings_cls)
        self._sources = [s for s in (env, dotenv) if isinstance(s, EnvSettingsSource)]

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is read in __call__

    def _lookup(self, variable: str) -> str | None:
        for source in self._sources:  # the environment first, then the file
            value = source.env_vars.get(variable.lower())
            if value:
                return value
        return None

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for declared in families():
            values = declared.default_settings().model_dump()
            for name in FamilySettings.model_fields:
                if (value := self._lookup(declared.variable(name))) is not None:
                    values[name] = value
            out[declared.name] = values
        return {"families": out}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FRAUDIT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # AWS
    aws_region: str = Field("us-east-1", validation_alias=_env("AWS_REGION"))
    aws_endpoint_url_sagemaker_runtime: str | None = Field(
        None, validation_alias=_env("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME")
    )
    aws_endpoint_url_kinesis: str | None = Field(
        None, validation_alias=_env("AWS_ENDPOINT_URL_KINESIS")
    )

    # Models. Each family's endpoints, served version and policy location are its own
    # variables (fraudit.families: FRAUDIT_CLASSIFIER_ENDPOINT, FRAUDIT_CARD_MODEL_VERSION,
    # ...), read into `families` by family name; `family()` gives one with its defaults.
    families: dict[str, FamilySettings] = Field(default_factory=dict)
    model_dir: Path = Path("models")

    # Data and training
    dataset_path: Path = Path("dataset/creditcard.csv")
    synthetic_rows: int = Field(284_807, ge=10_000)
    production_fraud_rate: float = Field(0.00172, gt=0, lt=0.5)
    policy_decline_precision: float = Field(0.9, gt=0, le=1)
    policy_review_recall: float = Field(0.9, gt=0, le=1)
    policy_max_review_rate: float = Field(0.01, gt=0, lt=1)
    policy_anomaly_review_rate: float = Field(0.002, ge=0, lt=1)
    seed: int = 42

    # Local model server
    model_server_host: str = "127.0.0.1"
    model_server_port: int = Field(8080, ge=0, le=65535)
    model_server_max_body_bytes: int = Field(6_291_456, gt=0)

    # Inference API
    scorer: Literal["sagemaker", "in-process"] = "sagemaker"
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=0, le=65535)
    api_workers: int = Field(2, ge=1, le=64)
    api_max_body_bytes: int = Field(1_048_576, gt=0)
    api_max_batch: int = Field(500, ge=1, le=500)
    # Every request answers within this many seconds (a 503 when a dependency is too slow);
    # below the Lambda timeout, which tests/unit/test_terraform.py checks.
    api_deadline_seconds: float = Field(8.0, gt=0, le=28)
    # How long a request waits for a candidate model scoring in shadow (FRAUDIT_<FAMILY>
    # SHADOW_MODEL_VERSION); a later answer is dropped and the event has no shadow scores.
    shadow_timeout_seconds: float = Field(DEFAULT_SHADOW_TIMEOUT, gt=0, le=28)
    # How old a transaction's timestamp may be; raise it to replay history.
    max_event_age_days: float = Field(DEFAULT_MAX_EVENT_AGE.days, gt=0, le=MAX_EVENT_AGE_LIMIT.days)
    api_key: SecretStr | None = None
    api_key_secret_id: str | None = None
    # Seconds a key read from Secrets Manager is trusted before it is read again (rotation
    # takes effect without a cold start).
    api_key_refresh_seconds: float = Field(300.0, gt=0)
    # The published ruleset (docs/RULES.md): a file path, or s3://bucket/key on AWS. A
    # missing one is an empty ruleset; the API checks for a new version at most this often.
    ruleset_uri: str = Field("rules/ruleset.json", min_length=1)
    ruleset_refresh_seconds: float = Field(30.0, ge=1, le=3600)
    # Labels (docs/LABELS.md): an approved or reviewed transaction with no fraud report counts
    # as genuine once it is older than this many days; younger, its outcome is unknown.
    label_maturity_days: int = Field(60, ge=0, le=400)
    # Cases the team reviews a day: k of card precision at k (docs/BACKTESTS.md).
    review_capacity: int = Field(100, ge=1, le=1_000_000)
    # The key card numbers are tokenised with on import (`fraudit import sparkov`): the same
    # key gives the same token across files. Needed only for files that hold card numbers.
    card_token_key: SecretStr | None = None
    # The online store and the idempotency records (docs/FEATURES.md, "Online store").
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Every key starts with this: several deployments (or test runs) can share a server.
    redis_key_prefix: str = Field("fraudit:", min_length=1, max_length=64)
    # A Redis Cluster (ElastiCache Serverless runs in cluster mode only): a cluster client,
    # which follows the slots' owners. Every key of a prefix is in one slot.
    redis_cluster: bool = False
    # IAM authentication to ElastiCache (no password anywhere): the ElastiCache user (its
    # authentication mode IAM) and the serverless cache the token is signed for. Empty: no
    # AUTH (a local Redis, or a cache fenced by its security group only).
    redis_iam_user: str | None = None
    redis_iam_cache_name: str | None = None
    # Connect and read timeout per round trip; Redis slower than this is a 503.
    redis_timeout_seconds: float = Field(0.5, gt=0, le=5)
    # How long a transaction_id's answer is kept for repeats.
    idempotency_ttl_seconds: int = Field(86_400, ge=60, le=30 * 86_400)
    sagemaker_connect_timeout: float = Field(1.0, gt=0)
    sagemaker_read_timeout: float = Field(2.0, gt=0)
    sagemaker_max_attempts: int = Field(2, ge=1, le=10)
    kinesis_connect_timeout: float = Field(1.0, gt=0)
    kinesis_read_timeout: float = Field(2.0, gt=0)
    kinesis_max_attempts: int = Field(5, ge=1, le=20)

    # Streaming and storage
    stream_name: str = DEFAULT_STREAM_NAME
    database_url: str | None = Field(None, validation_alias=_env("DATABASE_URL"), repr=False)
    # On AWS: the RDS-managed secret (user and password) and where the database is; used
    # when DATABASE_URL is empty. The secret is read at start and never logged.
    database_secret_id: str | None = None
    database_host: str | None = None
    database_port: int = Field(5432, ge=1, le=65535)
    database_name: str = "fraudit"
    indicator_rules: Path | None = None

    # Operations
    log_level: str = "INFO"

    @field_validator(
        "aws_endpoint_url_sagemaker_runtime",
        "aws_endpoint_url_kinesis",
        "database_url",
        "database_secret_id",
        "database_host",
        "api_key",
        "api_key_secret_id",
        "card_token_key",
        "indicator_rules",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `.env.example` writes unset as `NAME=`; treat that as "not configured".
        return None if value == "" else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        family_variables = _FamilyVariables(settings_cls, env_settings, dotenv_settings)
        return init_settings, env_settings, dotenv_settings, family_variables, file_secret_settings

    def family(self, declared: ModelFamily) -> FamilySettings:
        """A family's settings: its variables over its declared defaults (a family declared
        after these settings were read has its defaults)."""
        return self.families.get(declared.name) or declared.default_settings()

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level


def setting_variables() -> dict[str, tuple[str, ...]]:
    """Every environment variable the settings read, with where its value lands: a field
    (`("api_port",)`) or a family's field (`("families", "cards", "model_version")`)."""
    out: dict[str, tuple[str, ...]] = {}
    for name, info in Settings.model_fields.items():
        if name == "families":
            continue
        choices = getattr(info.validation_alias, "choices", None)
        out[str(choices[0]) if choices else f"FRAUDIT_{name.upper()}"] = (name,)
    for declared in families():
        for name in FamilySettings.model_fields:
            out[declared.variable(name)] = ("families", declared.name, name)
    return out


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
