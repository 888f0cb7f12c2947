"""The one wrapper around the boto3 clients the deploy tool uses: small typed calls, so
commands.py reads as a plan being carried out. Tested against moto."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fraudit.aws_clients import aws_client
from fraudit.deploy.plan import EndpointSpec, EndpointState


class DeployAws:
    def __init__(self, region: str, session: Any = None) -> None:
        import boto3

        self._session = session or boto3.session.Session(region_name=region)
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = aws_client(
                service, region=self._session.region_name, session=self._session
            )
        return self._clients[service]

    # --- S3 --------------------------------------------------------------------------

    def _head(self, bucket: str, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self._client("s3").head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise

    def object_exists(self, bucket: str, key: str) -> bool:
        return self._head(bucket, key) is not None

    def object_sha256(self, bucket: str, key: str) -> str | None:
        """The sha256 recorded when the deploy tool uploaded the object; None if absent
        (or put there by something else)."""
        head = self._head(bucket, key)
        return None if head is None else head.get("Metadata", {}).get("sha256")

    def upload(self, bucket: str, key: str, path: Path, sha256: str, kms_key_arn: str) -> None:
        self._client("s3").upload_file(
            str(path),
            bucket,
            key,
            ExtraArgs={
                "Metadata": {"sha256": sha256},
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": kms_key_arn,
            },
        )

    # --- IAM and Secrets Manager: preflight checks (names only, never a secret value) --

    def role_exists(self, role_arn: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client("iam").get_role(RoleName=role_arn.rsplit("/", 1)[-1])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
                return False
            raise
        return True

    def secret_exists(self, secret_id: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client("secretsmanager").describe_secret(SecretId=secret_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise
        return True

    # --- the API key: one value in Secrets Manager and on the usage plan ---------------

    def secret_string(self, secret_id: str) -> str | None:
        """The secret's current value; None when it has none yet (a fresh stack)."""
        from botocore.exceptions import ClientError

        try:
            return str(
                self._client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise

    def put_secret_string(self, secret_id: str, value: str) -> None:
        self._client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=value)

    def usage_plan_keys(self, usage_plan_id: str) -> dict[str, str]:
        """name -> id of the keys attached to the usage plan."""
        pages = self._client("apigateway").get_paginator("get_usage_plan_keys")
        return {
            item["name"]: item["id"]
            for page in pages.paginate(usagePlanId=usage_plan_id)
            for item in page.get("items", [])
        }

    def create_gateway_key(self, usage_plan_id: str, name: str, value: str) -> str:
        gateway = self._client("apigateway")
        key_id = str(gateway.create_api_key(name=name, value=value, enabled=True)["id"])
        gateway.create_usage_plan_key(usagePlanId=usage_plan_id, keyId=key_id, keyType="API_KEY")
        return key_id

    def delete_gateway_key(self, usage_plan_id: str, key_id: str) -> None:
        gateway = self._client("apigateway")
        gateway.delete_usage_plan_key(usagePlanId=usage_plan_id, keyId=key_id)
        gateway.delete_api_key(apiKey=key_id)

    # --- SageMaker -------------------------------------------------------------------

    def endpoint_state(self, spec: EndpointSpec) -> EndpointState:
        from botocore.exceptions import ClientError

        sagemaker = self._client("sagemaker")

        def exists(call: str, **kwargs: str) -> bool:
            try:
                getattr(sagemaker, call)(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ValidationException":
                    return False
                raise
            return True

        name = spec.resource_name
        try:
            endpoint = sagemaker.describe_endpoint(EndpointName=spec.endpoint)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            endpoint = None
        managed_by = None
        if endpoint is not None:
            tags = sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"]).get("Tags", [])
            managed_by = next((t["Value"] for t in tags if t["Key"] == "managed-by"), None)
        return EndpointState(
            model_exists=exists("describe_model", ModelName=name),
            config_exists=exists("describe_endpoint_config", EndpointConfigName=name),
            endpoint_config=endpoint["EndpointConfigName"] if endpoint else None,
            endpoint_status=endpoint["EndpointStatus"] if endpoint else None,
            managed_by=managed_by,
        )

    def create_model(self, spec: EndpointSpec) -> None:
        self._client("sagemaker").create_model(
            ModelName=spec.resource_name,
            ExecutionRoleArn=spec.role_arn,
            EnableNetworkIsolation=True,
            PrimaryContainer={
                "Image": spec.image_uri,
                "ModelDataUrl": spec.model_data_url,
                "Environment": dict(spec.environment),
            },
            Tags=_tags(spec),
        )

    def create_endpoint_config(self, spec: EndpointSpec) -> None:
        variant: dict[str, Any] = {"VariantName": "primary", "ModelName": spec.resource_name}
        extra: dict[str, Any] = {}
        if spec.serverless_memory_mb:
            variant["ServerlessConfig"] = {
                "MemorySizeInMB": spec.serverless_memory_mb,
                "MaxConcurrency": spec.serverless_max_concurrency,
            }
        else:
            variant.update(
                InstanceType=spec.instance_type, InitialInstanceCount=spec.instance_count
            )
            extra["KmsKeyId"] = spec.kms_key_arn  # serverless variants take no volume key
        self._client("sagemaker").create_endpoint_config(
            EndpointConfigName=spec.resource_name,
            ProductionVariants=[variant],
            Tags=_tags(spec),
            **extra,
        )

    def create_endpoint(self, spec: EndpointSpec, config: str) -> None:
        self._client("sagemaker").create_endpoint(
            EndpointName=spec.endpoint, EndpointConfigName=config, Tags=_tags(spec)
        )

    def update_endpoint(self, spec: EndpointSpec, config: str) -> None:
        self._client("sagemaker").update_endpoint(
            EndpointName=spec.endpoint, EndpointConfigName=config
        )

    # --- Glue ------------------------------------------------------------------------

    def job_runs(self, job: str) -> dict[str, str]:
        """Recent runs of the job: run id -> state, newest first."""
        runs = self._client("glue").get_job_runs(JobName=job, MaxResults=20)["JobRuns"]
        return {run["Id"]: run["JobRunState"] for run in runs}

    def job_run_details(self, job: str) -> list[Mapping[str, Any]]:
        return self._client("glue").get_job_runs(JobName=job, MaxResults=5)["JobRuns"]

    def start_job(self, job: str) -> str:
        return self._client("glue").start_job_run(JobName=job)["JobRunId"]

    def stop_job(self, job: str, run_id: str) -> None:
        self._client("glue").batch_stop_job_run(JobName=job, JobRunIds=[run_id])

    # --- Lambda ------------------------------------------------------------------------

    def invoke(self, function: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Invoke a function and wait for its answer; its failure is a RuntimeError with
        the function's own error message."""
        response = self._client("lambda").invoke(
            FunctionName=function,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode(),
        )
        body = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            message = body.get("errorMessage", body) if isinstance(body, dict) else body
            raise RuntimeError(f"{function} failed: {message}")
        if not isinstance(body, dict):
            raise RuntimeError(f"{function} answered {body!r}, not an object")
        return body


def _tags(spec: EndpointSpec) -> list[dict[str, str]]:
    return [
        {"Key": "managed-by", "Value": "fraudit-deploy"},
        {"Key": "model-version", "Value": spec.model_version},
    ]
