"""Building the predict service from settings: one botocore client per AWS service per
process, the decision policy from where the deploy step published it, the API key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3

from fraudit.errors import ArtifactError
from fraudit.models.layout import POLICY_FILE, has_model, resolve_version
from fraudit.publishing import KinesisPublisher
from fraudit.publishing.kinesis_producer import kinesis_config
from fraudit.scoring.base import Scorer
from fraudit.scoring.policy import DecisionPolicy, PolicyError
from fraudit.scoring.sagemaker import SageMakerScorer, sagemaker_config
from fraudit.settings import Settings

POOL_SIZE = 32


def client(service: str, settings: Settings, config: Any = None) -> Any:
    """A boto3 client; endpoint overrides come from AWS_ENDPOINT_URL_* as boto3 reads them."""
    return boto3.session.Session().client(service, region_name=settings.aws_region,
                                          config=config)


def load_policy(settings: Settings) -> DecisionPolicy:
    """S3 object or SSM parameter named in settings (AWS), else the model folder (local)."""
    if settings.policy_s3_uri:
        url = urlparse(settings.policy_s3_uri)
        if url.scheme != "s3" or not url.netloc or not url.path.strip("/"):
            raise PolicyError(f"FRAUDIT_POLICY_S3_URI must be s3://bucket/key, got "
                              f"{settings.policy_s3_uri!r}")
        body = client("s3", settings).get_object(Bucket=url.netloc,
                                                  Key=url.path.lstrip("/"))["Body"].read()
        return DecisionPolicy.from_json(body.decode("utf-8"))
    if settings.policy_ssm_parameter:
        response = client("ssm", settings).get_parameter(Name=settings.policy_ssm_parameter,
                                                         WithDecryption=True)
        return DecisionPolicy.from_json(response["Parameter"]["Value"])
    root = Path(settings.model_dir)
    if not settings.model_version and not has_model(root):
        raise PolicyError(f"no policy: set FRAUDIT_POLICY_S3_URI or "
                          f"FRAUDIT_POLICY_SSM_PARAMETER, or train a model into {root}")
    try:
        version = resolve_version(root, settings.model_version)
    except ArtifactError as exc:
        raise PolicyError(str(exc)) from None
    return DecisionPolicy.load(root / version / POLICY_FILE)


def resolve_api_key(settings: Settings) -> str | None:
    """The expected x-api-key, from the environment or Secrets Manager; None = no key."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    if settings.api_key_secret_id:
        secret = client("secretsmanager", settings).get_secret_value(
            SecretId=settings.api_key_secret_id)["SecretString"]
        try:  # either the bare key or {"api_key": "..."}
            document = json.loads(secret)
        except json.JSONDecodeError:
            return secret
        return str(document["api_key"]) if isinstance(document, dict) else secret
    return None


def build_scorer(settings: Settings, policy: DecisionPolicy) -> Scorer:
    if settings.scorer == "in-process":
        from fraudit.models.artifacts import load_bundle
        from fraudit.scoring.local import InProcessScorer

        return InProcessScorer(load_bundle(settings.model_dir, settings.model_version
                                           or policy.model_version or None))
    runtime = client("sagemaker-runtime", settings, sagemaker_config(
        connect_timeout=settings.sagemaker_connect_timeout,
        read_timeout=settings.sagemaker_read_timeout,
        max_attempts=settings.sagemaker_max_attempts, pool_size=POOL_SIZE))
    return SageMakerScorer(runtime, classifier_endpoint=settings.classifier_endpoint,
                           anomaly_endpoint=settings.anomaly_endpoint,
                           model_version=policy.model_version)


def build_publisher(settings: Settings) -> KinesisPublisher:
    kinesis = client("kinesis", settings, kinesis_config(
        connect_timeout=settings.kinesis_connect_timeout,
        read_timeout=settings.kinesis_read_timeout, pool_size=POOL_SIZE))
    return KinesisPublisher(kinesis, settings.stream_name,
                            max_attempts=settings.kinesis_max_attempts)


def build_service(settings: Settings) -> Any:
    from fraudit.api.service import PredictService

    policy = load_policy(settings)
    return PredictService(build_scorer(settings, policy), build_publisher(settings), policy,
                          max_batch=settings.api_max_batch)
