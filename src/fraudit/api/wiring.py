"""Building the predict service from settings: one botocore client per AWS service per
process (fraudit.aws_clients), the decision policy from where the deploy step published
it, the API key."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from fraudit.api.service import FamilyModel, PredictService
from fraudit.aws_clients import settings_client
from fraudit.errors import ArtifactError
from fraudit.families import ModelFamily, families
from fraudit.models.layout import (
    POLICY_FILE,
    family_root,
    has_model,
    resolve_version,
    shadow_model_dir,
)
from fraudit.online.redis_store import store_from_settings as build_store
from fraudit.publishing import KinesisPublisher
from fraudit.rules.source import LiveRuleset, source_of
from fraudit.scoring.base import Scorer
from fraudit.scoring.policy import DecisionPolicy, PolicyError
from fraudit.scoring.sagemaker import SageMakerScorer
from fraudit.settings import Settings

log = logging.getLogger("fraudit.api")


def _policy_from_s3(settings: Settings, uri: str, variable: str) -> DecisionPolicy:
    url = urlparse(uri)
    if url.scheme != "s3" or not url.netloc or not url.path.strip("/"):
        raise PolicyError(f"{variable} must be s3://bucket/key, got {uri!r}")
    body = (
        settings_client("s3", settings)
        .get_object(Bucket=url.netloc, Key=url.path.lstrip("/"))["Body"]
        .read()
    )
    return DecisionPolicy.from_json(body.decode("utf-8"))


def load_policy(settings: Settings, family: ModelFamily) -> DecisionPolicy | None:
    """A family's decision policy: the S3 object or SSM parameter its settings name (AWS),
    else its folder under the model folder (local). None when there is none yet (no S3
    object, no trained model) for a family the API can start without: its requests are then
    answered 503. A family the API needs raises PolicyError instead."""
    configured = settings.family(family)
    if configured.policy_s3_uri:
        try:
            return _policy_from_s3(
                settings, configured.policy_s3_uri, family.variable("policy_s3_uri")
            )
        except ClientError as exc:
            missing = exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404")
            if family.required or not missing:
                raise
            log.warning(
                "no %s policy at %s yet: its path is off", family.name, configured.policy_s3_uri
            )
            return None
    if configured.policy_ssm_parameter:
        response = settings_client("ssm", settings).get_parameter(
            Name=configured.policy_ssm_parameter, WithDecryption=True
        )
        return DecisionPolicy.from_json(response["Parameter"]["Value"])
    root = family_root(Path(settings.model_dir), family)
    if not configured.model_version and not has_model(root):
        if not family.required:
            return None
        raise PolicyError(
            f"no policy: set {family.variable('policy_s3_uri')} or "
            f"{family.variable('policy_ssm_parameter')}, or train a model into {root}"
        )
    try:
        version = resolve_version(root, configured.model_version, family)
    except ArtifactError as exc:
        raise PolicyError(str(exc)) from None
    return DecisionPolicy.load(root / version / POLICY_FILE)


class ApiKeyError(ValueError):
    """The configured API key is empty or malformed: the API must not start open."""


MIN_API_KEY_LENGTH = 20  # API Gateway's own minimum for a key value


def parse_api_key_secret(secret: str) -> str:
    """The key from a secret holding either the bare key or {"api_key": "..."}."""
    text = secret.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise ApiKeyError("the API key secret looks like JSON but does not parse") from None
        value = document.get("api_key") if isinstance(document, dict) else None
        if not isinstance(value, str):
            raise ApiKeyError('the API key secret must be the key or {"api_key": "<key>"}')
        text = value.strip()
    return check_api_key(text)


def check_api_key(key: str) -> str:
    if len(key) < MIN_API_KEY_LENGTH or any(not c.isprintable() or c.isspace() for c in key):
        raise ApiKeyError(
            f"the API key must be at least {MIN_API_KEY_LENGTH} printable characters "
            "without spaces; refusing to serve with an empty or malformed key"
        )
    return key


def resolve_api_key(settings: Settings) -> str | None:
    """The expected x-api-key, from the environment or Secrets Manager; None = no key is
    configured. A configured key that is empty or malformed raises ApiKeyError."""
    if settings.api_key is not None:
        return check_api_key(settings.api_key.get_secret_value())
    if settings.api_key_secret_id:
        secret = settings_client("secretsmanager", settings).get_secret_value(
            SecretId=settings.api_key_secret_id
        )
        return parse_api_key_secret(secret.get("SecretString") or "")
    return None


def api_key_configured(settings: Settings) -> bool:
    return settings.api_key is not None or bool(settings.api_key_secret_id)


def build_scorer(settings: Settings, family: ModelFamily, policy: DecisionPolicy) -> Scorer[Any]:
    """The family's two models: its SageMaker endpoints, or loaded into this process."""
    configured = settings.family(family)
    if settings.scorer == "in-process":
        version = configured.model_version or policy.model_version or None
        return family.serving().in_process_scorer(settings.model_dir, version)
    return SageMakerScorer(
        settings_client("sagemaker-runtime", settings),
        classifier_endpoint=configured.classifier_endpoint,
        anomaly_endpoint=configured.anomaly_endpoint,
        model_version=policy.model_version,
        csv_row=family.csv_row,
    )


def build_publisher(settings: Settings) -> KinesisPublisher:
    return KinesisPublisher(
        settings_client("kinesis", settings),
        settings.stream_name,
        max_attempts=settings.kinesis_max_attempts,
        attempt_timeout=settings.kinesis_connect_timeout + settings.kinesis_read_timeout,
    )


def load_shadow_policy(settings: Settings, family: ModelFamily, version: str) -> DecisionPolicy:
    """The policy of the family's candidate in shadow: its S3 object (AWS), else its folder."""
    configured = settings.family(family)
    if configured.shadow_policy_s3_uri:
        policy = _policy_from_s3(
            settings, configured.shadow_policy_s3_uri, family.variable("shadow_policy_s3_uri")
        )
    else:
        root = family_root(shadow_model_dir(settings.model_dir, configured), family)
        policy = DecisionPolicy.load(root / resolve_version(root, version, family) / POLICY_FILE)
    if policy.model_version != version:
        raise PolicyError(
            f"the shadow policy is model {policy.model_version}'s, not {version}'s: publish the "
            "candidate's own policy"
        )
    return policy


def build_shadow(settings: Settings, family: ModelFamily) -> FamilyModel | None:
    """The family's candidate in shadow, when its version is set. One that cannot be loaded
    is logged and left out: a candidate never stops the live models from serving."""
    configured = settings.family(family)
    version = configured.shadow_model_version
    if not version:
        return None
    try:
        policy = load_shadow_policy(settings, family, version)
        if settings.scorer == "in-process":
            folder = shadow_model_dir(settings.model_dir, configured)
            scorer = family.serving().in_process_scorer(folder, version)
        else:
            classifier, anomaly = configured.shadow_endpoints
            scorer = SageMakerScorer(
                settings_client("sagemaker-runtime", settings),
                classifier_endpoint=classifier,
                anomaly_endpoint=anomaly,
                model_version=version,
                csv_row=family.csv_row,
            )
    except (ArtifactError, PolicyError, ClientError, OSError, ValueError) as exc:
        log.error("the %s candidate %s cannot score in shadow: %s", family.name, version, exc)
        return None
    log.info("the %s candidate %s scores in shadow", family.name, version)
    return FamilyModel(scorer, policy)


def build_models(settings: Settings) -> dict[str, FamilyModel]:
    """Every declared family whose policy is published (or trained locally), by name, each
    with its candidate in shadow if one is set."""
    models = {}
    for family in families():
        policy = load_policy(settings, family)
        if policy is not None:
            models[family.name] = FamilyModel(
                build_scorer(settings, family, policy), policy, build_shadow(settings, family)
            )
    return models


def build_rules(settings: Settings) -> LiveRuleset:
    """The published ruleset, refreshed in place (a document that does not compile at
    start stops the API: it never serves without the team's rules)."""
    source = source_of(settings.ruleset_uri, lambda: settings_client("s3", settings))
    return LiveRuleset(source, families(), settings.ruleset_refresh_seconds)


def build_service(settings: Settings) -> PredictService:
    return PredictService(
        build_publisher(settings),
        build_models(settings),
        store=build_store(settings),
        max_batch=settings.api_max_batch,
        max_event_age=timedelta(days=settings.max_event_age_days),
        rules=build_rules(settings),
        shadow_timeout=settings.shadow_timeout_seconds,
    )
