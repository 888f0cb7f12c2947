"""Building the predict service from settings: one botocore client per AWS service per
process (fraudit.aws_clients), the decision policy from where the deploy step published
it, the API key."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from fraudit.api.service import CardModel, PredictService
from fraudit.aws_clients import settings_client
from fraudit.errors import ArtifactError
from fraudit.models.layout import POLICY_FILE, Family, family_root, has_model, resolve_version
from fraudit.online.redis_store import store_from_settings as build_store
from fraudit.publishing import KinesisPublisher
from fraudit.scoring.base import Scorer
from fraudit.scoring.policy import DecisionPolicy, PolicyError
from fraudit.scoring.sagemaker import SageMakerScorer, card_csv_row
from fraudit.settings import Settings
from fraudit.ulb_vector import FeatureVector

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


def load_policy(settings: Settings) -> DecisionPolicy:
    """S3 object or SSM parameter named in settings (AWS), else the model folder (local)."""
    if settings.policy_s3_uri:
        return _policy_from_s3(settings, settings.policy_s3_uri, "FRAUDIT_POLICY_S3_URI")
    if settings.policy_ssm_parameter:
        response = settings_client("ssm", settings).get_parameter(
            Name=settings.policy_ssm_parameter, WithDecryption=True
        )
        return DecisionPolicy.from_json(response["Parameter"]["Value"])
    root = Path(settings.model_dir)
    if not settings.model_version and not has_model(root):
        raise PolicyError(
            f"no policy: set FRAUDIT_POLICY_S3_URI or "
            f"FRAUDIT_POLICY_SSM_PARAMETER, or train a model into {root}"
        )
    try:
        version = resolve_version(root, settings.model_version)
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


def build_scorer(settings: Settings, policy: DecisionPolicy) -> Scorer[FeatureVector]:
    if settings.scorer == "in-process":
        from fraudit.models.artifacts import load_bundle
        from fraudit.scoring.local import InProcessScorer

        return InProcessScorer(
            load_bundle(settings.model_dir, settings.model_version or policy.model_version or None)
        )
    return SageMakerScorer(
        settings_client("sagemaker-runtime", settings),
        classifier_endpoint=settings.classifier_endpoint,
        anomaly_endpoint=settings.anomaly_endpoint,
        model_version=policy.model_version,
    )


def build_publisher(settings: Settings) -> KinesisPublisher:
    return KinesisPublisher(
        settings_client("kinesis", settings),
        settings.stream_name,
        max_attempts=settings.kinesis_max_attempts,
        attempt_timeout=settings.kinesis_connect_timeout + settings.kinesis_read_timeout,
    )


def load_card_policy(settings: Settings) -> DecisionPolicy | None:
    """The card family's policy: the S3 object named in settings (AWS), else the local card
    model; None when neither exists (card transactions are then answered 503)."""
    if settings.card_policy_s3_uri:
        try:
            return _policy_from_s3(
                settings, settings.card_policy_s3_uri, "FRAUDIT_CARD_POLICY_S3_URI"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
            log.warning("no card policy at FRAUDIT_CARD_POLICY_S3_URI yet: card path off")
            return None
    root = family_root(Path(settings.model_dir), Family.CARDS)
    if not settings.card_model_version and not has_model(root):
        return None
    try:
        version = resolve_version(root, settings.card_model_version, Family.CARDS)
    except ArtifactError as exc:
        raise PolicyError(str(exc)) from None
    return DecisionPolicy.load(root / version / POLICY_FILE)


def build_card_model(settings: Settings) -> CardModel | None:
    policy = load_card_policy(settings)
    if policy is None:
        return None
    if settings.scorer == "in-process":
        from fraudit.models.cards.bundle import load_card_bundle
        from fraudit.scoring.local import InProcessCardScorer

        bundle = load_card_bundle(
            settings.model_dir, settings.card_model_version or policy.model_version or None
        )
        return CardModel(InProcessCardScorer(bundle), policy)
    scorer = SageMakerScorer(
        settings_client("sagemaker-runtime", settings),
        classifier_endpoint=settings.card_classifier_endpoint,
        anomaly_endpoint=settings.card_anomaly_endpoint,
        model_version=policy.model_version,
        csv_row=card_csv_row,
    )
    return CardModel(scorer, policy)


def build_service(settings: Settings) -> PredictService:
    policy = load_policy(settings)
    return PredictService(
        build_scorer(settings, policy),
        build_publisher(settings),
        policy,
        store=build_store(settings),
        cards=build_card_model(settings),
        max_batch=settings.api_max_batch,
        max_event_age=timedelta(days=settings.max_event_age_days),
    )
