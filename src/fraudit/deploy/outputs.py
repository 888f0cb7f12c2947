"""The Terraform stack's outputs, as the deploy tool and the .env need them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from fraudit.families import ModelFamily, families


class StackOutputs(BaseModel):
    """`terraform output -json` of devops/infra. Upper-case names are .env keys."""

    model_config = ConfigDict(extra="allow", frozen=True)

    AWS_REGION: str
    FRAUDIT_STREAM_NAME: str
    # Each model family's endpoint names come as its own variables (`endpoint_names`), kept
    # as extra fields; a family the API needs must have them.
    FRAUDIT_POLICY_S3_URI: str
    FRAUDIT_DATABASE_SECRET_ID: str
    FRAUDIT_DATABASE_HOST: str
    FRAUDIT_DATABASE_PORT: int
    FRAUDIT_DATABASE_NAME: str
    api_url: str = ""
    api_name: str = ""
    api_key_secret_arn: str = ""
    api_usage_plan_id: str = ""
    artifacts_bucket: str
    checkpoints_bucket: str
    glue_job_name: str
    sagemaker_role_arn: str
    kms_key_arn: str
    xgboost_image_tag: str
    xgboost_image_uri: str
    sklearn_image_uri: str
    endpoints_managed_by: str = "terraform"
    # The operations task (devops/infra/ops.tf); empty on a stack applied before it.
    ops_function_name: str = ""

    @model_validator(mode="after")
    def _required_families_have_endpoints(self) -> StackOutputs:
        for declared in families():
            if declared.required and not all(self.endpoint_names(declared)):
                raise ValueError(
                    f"the stack's outputs name no endpoints of the {declared.noun} family "
                    f"({declared.variable('classifier_endpoint')})"
                )
        return self

    def endpoint_names(self, family: ModelFamily) -> tuple[str, str]:
        """A family's classifier and anomaly endpoint names as the stack names them ("" on a
        stack applied before the family existed)."""
        values = {**self.model_dump(), **(self.model_extra or {})}
        return (
            str(values.get(family.variable("classifier_endpoint")) or ""),
            str(values.get(family.variable("anomaly_endpoint")) or ""),
        )

    @classmethod
    def from_terraform_json(cls, document: dict[str, Any]) -> StackOutputs:
        """From `terraform output -json` ({name: {"value": ..., "type": ...}})."""
        return cls(**{name: entry["value"] for name, entry in document.items()})

    def env_values(self) -> dict[str, str]:
        """The outputs that are .env variables (upper-case names), as strings."""
        values = {**self.model_dump(), **(self.model_extra or {})}
        return {
            name: str(value)
            for name, value in sorted(values.items())
            if name.isupper() and value not in (None, "")
        }


def read_outputs(
    *, infra_dir: Path | None = None, outputs_file: Path | None = None, terraform: str = "terraform"
) -> StackOutputs:
    """From a saved `terraform output -json` file, or by running it in infra_dir."""
    if outputs_file is not None:
        document = json.loads(Path(outputs_file).read_text())
    else:
        result = subprocess.run(
            [terraform, "output", "-json"],
            cwd=infra_dir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"terraform output failed in {infra_dir}: {result.stderr.strip()}")
        document = json.loads(result.stdout)
    if not document:
        raise RuntimeError("the stack has no outputs: run `terraform apply` in devops/infra first")
    return StackOutputs.from_terraform_json(document)


def env_text(outputs: StackOutputs) -> str:
    """A .env for the stack: the same variables as .env.example, valued for AWS."""
    lines = [
        "# Written by `fraudit deploy env` from the Terraform outputs of devops/infra.",
        "# No secret is in here: the database password stays in Secrets Manager.",
    ]
    lines += [f"{name}={value}" for name, value in outputs.env_values().items()]
    return "\n".join(lines) + "\n"
