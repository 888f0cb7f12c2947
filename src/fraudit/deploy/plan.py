"""Pure planning: from what is wanted and what is there, the list of actions. No I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ActionKind = Literal[
    "upload",
    "create_model",
    "create_endpoint_config",
    "create_endpoint",
    "update_endpoint",
    "start_job",
    "stop_job",
    "write_file",
    "put_api_key_secret",
    "create_gateway_key",
    "delete_gateway_key",
]


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    target: str
    reason: str
    params: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.kind:<22} {self.target}  ({self.reason})"


@dataclass(frozen=True)
class Artifact:
    """A local file and the S3 key it belongs at."""

    path: Path
    key: str
    sha256: str


def plan_uploads(
    artifacts: Sequence[Artifact], bucket: str, remote_sha256: Mapping[str, str | None]
) -> list[Action]:
    """Upload what is missing or different (by the sha256 kept in the object's metadata);
    an identical object is left alone, so a re-run uploads nothing."""
    actions = []
    for artifact in artifacts:
        there = remote_sha256.get(artifact.key)
        if there == artifact.sha256:
            continue
        reason = "missing" if there is None else "changed"
        actions.append(
            Action(
                "upload",
                f"s3://{bucket}/{artifact.key}",
                reason,
                {"path": str(artifact.path), "key": artifact.key, "sha256": artifact.sha256},
            )
        )
    return actions


@dataclass(frozen=True)
class EndpointSpec:
    """What one endpoint should serve."""

    endpoint: str
    model_version: str
    image_uri: str
    model_data_url: str
    role_arn: str
    environment: Mapping[str, str]
    kms_key_arn: str
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    serverless_memory_mb: int | None = None  # set: serverless inference
    serverless_max_concurrency: int = 20

    @property
    def resource_name(self) -> str:
        """Model and endpoint-config name: the endpoint's plus a hash of the version, so
        a new version is created beside the old one and the endpoint switches over."""
        suffix = hashlib.sha1(self.model_version.encode()).hexdigest()[:8]  # noqa: S324 - a name, not security
        return f"{self.endpoint}-{suffix}"


@dataclass(frozen=True)
class EndpointState:
    """What SageMaker has for one endpoint."""

    model_exists: bool
    config_exists: bool
    endpoint_config: str | None  # the config the endpoint serves; None: no endpoint
    endpoint_status: str | None = None
    managed_by: str | None = None  # the endpoint's managed-by tag


class OwnershipError(RuntimeError):
    """The endpoint belongs to Terraform: the deploy tool must not change it."""


def plan_endpoint(spec: EndpointSpec, state: EndpointState) -> list[Action]:
    if state.managed_by == "terraform":
        raise OwnershipError(
            f"endpoint {spec.endpoint} is managed by Terraform (tag managed-by=terraform): "
            "set model_version in devops/infra and apply, or set endpoints_managed_by = "
            '"deploy" there first'
        )
    name = spec.resource_name
    actions = []
    if not state.model_exists:
        actions.append(Action("create_model", name, f"model version {spec.model_version}"))
    if not state.config_exists:
        actions.append(Action("create_endpoint_config", name, "new model version"))
    if state.endpoint_config is None:
        actions.append(Action("create_endpoint", spec.endpoint, f"serve {name}", {"config": name}))
    elif state.endpoint_config != name:
        actions.append(
            Action(
                "update_endpoint",
                spec.endpoint,
                f"switch from {state.endpoint_config} to {name}",
                {"config": name},
            )
        )
    return actions


ACTIVE_RUN_STATES = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})


def plan_glue(
    command: Literal["start", "stop"], job: str, run_states: Mapping[str, str]
) -> list[Action]:
    """Start only when no run is active (one run per checkpoint); stop every active run."""
    active = sorted(run_id for run_id, state in run_states.items() if state in ACTIVE_RUN_STATES)
    if command == "start":
        return [] if active else [Action("start_job", job, "no active run")]
    return [
        Action("stop_job", job, f"run {run_id} is {run_states[run_id]}", {"run_id": run_id})
        for run_id in active
    ]


def plan_file(path: Path, text: str, current: str | None) -> list[Action]:
    if current == text:
        return []
    return [
        Action("write_file", str(path), "missing" if current is None else "changed", {"text": text})
    ]


def api_key_fingerprint(value: str) -> str:
    """Names the gateway key holding a value without revealing it."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def gateway_key_name(api_name: str, value: str) -> str:
    return f"{api_name}-{api_key_fingerprint(value)}"


def plan_api_key(
    api_name: str,
    usage_plan: str,
    current_value: str | None,
    plan_keys: Mapping[str, str],
    *,
    rotate: bool,
) -> list[Action]:
    """One x-api-key for API Gateway and the Lambda: the secret holds it (a new one when
    the secret holds no valid key, or on rotation) and the usage plan has exactly one fraudit
    key, named by the value's fingerprint. `current_value`: the secret's valid key or None;
    `plan_keys`: the usage plan's key names and ids. No action carries a key value."""
    attach = f"attach to usage plan {usage_plan}"
    actions: list[Action] = []
    wanted: str | None = None  # the gateway key to keep; a new value's is made, not kept
    if rotate or current_value is None:
        reason = "rotation" if current_value is not None else "the secret holds no key"
        actions.append(Action("put_api_key_secret", "api key secret", reason))
        actions.append(Action("create_gateway_key", f"{api_name}-<new>", attach))
    else:
        wanted = gateway_key_name(api_name, current_value)
        if wanted not in plan_keys:
            actions.append(Action("create_gateway_key", wanted, attach))
    for name, key_id in sorted(plan_keys.items()):
        if name.startswith(f"{api_name}-") and name != wanted:
            actions.append(
                Action(
                    "delete_gateway_key", name, "replaced by the key in the secret", {"id": key_id}
                )
            )
    return actions
