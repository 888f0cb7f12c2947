"""The deploy commands: each gathers what is wanted and what is there, plans (plan.py),
prints the plan, and carries it out unless it is a dry run. Every command is idempotent:
run twice, the second run finds nothing to do."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fraudit.deploy.aws import DeployAws
from fraudit.deploy.outputs import StackOutputs, env_text
from fraudit.deploy.plan import (
    Action,
    Artifact,
    EndpointSpec,
    gateway_key_name,
    plan_api_key,
    plan_endpoint,
    plan_file,
    plan_glue,
    plan_uploads,
)
from fraudit.errors import ArtifactError
from fraudit.families import ModelFamily, families
from fraudit.files import sha256_file
from fraudit.models.layout import (
    ANOMALY_TARBALL,
    CLASSIFIER_TARBALL,
    DEPLOYED_FILES,
    POLICY_FILE,
    family_root,
    resolve_version,
)

# Object keys the Terraform stack reads (devops/infra/versions.tf, locals).
GLUE_SCRIPT_KEY = "glue/fraudit_glue_job.py"
GLUE_BACKTEST_SCRIPT_KEY = "glue/fraudit_backtest_job.py"
GLUE_WHEELHOUSE_KEY = "glue/fraudit-glue.gluewheels.zip"
DASHBOARD_WHEELHOUSE_KEY = "dashboard/fraudit-dashboard-wheelhouse.zip"
TFVARS_FILE = "fraudit.auto.tfvars.json"
# Both containers run the artifact's own code/inference.py (framework mode): the classifier
# answers TreeSHAP explanations, which the built-in XGBoost algorithm cannot.
CONTAINER_ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
}


@dataclass
class Deployer:
    repo: Path
    build_dir: Path
    infra_dir: Path
    model_dir: Path
    outputs: StackOutputs
    aws: DeployAws
    dry_run: bool = False
    say: Callable[[str], None] = print
    # The model family uploaded and rolled out (its S3 prefix, policy key and Terraform
    # variable are its declaration's: fraudit.families).
    family: ModelFamily = field(default_factory=lambda: families()[0])
    # Upload the family's candidate to score in shadow: its policy at the shadow key, its
    # version in the shadow variable (Terraform then adds its two endpoints).
    shadow: bool = False

    # --- plan execution ----------------------------------------------------------------

    def _carry_out(self, actions: Sequence[Action], run: Callable[[Action], object]) -> int:
        if not actions:
            self.say("nothing to do: everything is in place")
            return 0
        for number, action in enumerate(actions, 1):
            self.say(f"[{number}/{len(actions)}] {action.describe()}")
            if not self.dry_run:
                run(action)
        if self.dry_run:
            self.say(f"dry run: {len(actions)} action(s) planned, none carried out")
        return len(actions)

    # --- upload ------------------------------------------------------------------------

    def model_version(self, requested: str | None) -> str | None:

        if requested:
            return requested
        try:
            return resolve_version(family_root(self.model_dir, self.family), None, self.family)
        except ArtifactError:  # no trained model yet: a normal state for a first upload
            return None

    def artifacts(self, model_version: str | None) -> tuple[list[Artifact], dict[str, str]]:
        """The files to upload, and the Terraform variables they set."""
        import fraudit.backtest.glue_job
        import fraudit.stream.glue_job

        wanted: list[tuple[Path, str]] = [
            (Path(fraudit.stream.glue_job.__file__), GLUE_SCRIPT_KEY),
            (Path(fraudit.backtest.glue_job.__file__), GLUE_BACKTEST_SCRIPT_KEY),
        ]
        tfvars: dict[str, str] = {}
        built = {
            GLUE_WHEELHOUSE_KEY: self.build_dir / "fraudit-glue.gluewheels.zip",
            DASHBOARD_WHEELHOUSE_KEY: self.build_dir / "fraudit-dashboard-wheelhouse.zip",
        }
        for key, path in built.items():
            if path.exists():
                wanted.append((path, key))
            else:
                self.say(f"note: {path.name} not built (`fraudit deploy build`): not uploaded")
        for name, subdir, variable, flag in (
            ("API", "api", "api_package_s3_key", "--api"),
            ("operations task", "ops", "ops_package_s3_key", "--ops"),
        ):
            package = self.build_dir / subdir / "deployment.zip"
            if package.exists():
                key = f"{subdir}/deployment-{sha256_file(package)[:16]}.zip"  # new per build
                wanted.append((package, key))
                tfvars[variable] = key
            else:
                self.say(
                    f"note: the {name} zip is not built (`fraudit deploy build {flag}`): "
                    "not uploaded"
                )
        root = family_root(self.model_dir, self.family)
        if model_version is None:
            self.say(
                f"note: no trained model ({self.family.name} family) under {root} "
                f"(`{self.family.train_command}`): models not uploaded"
            )
        else:
            folder = root / model_version
            missing = [f for f in DEPLOYED_FILES if not (folder / f).exists()]
            if missing:
                raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}")
            prefix = self.family.deploy_prefix
            wanted += [(folder / f, f"{prefix}/{model_version}/{f}") for f in DEPLOYED_FILES]
            if self.shadow:
                wanted.append((folder / POLICY_FILE, self.family.shadow_policy_key))
                tfvars[self.family.shadow_version_variable] = model_version
            else:
                wanted.append((folder / POLICY_FILE, self.family.policy_key))
                tfvars[self.family.version_variable] = model_version
        return [Artifact(path, key, sha256_file(path)) for path, key in wanted], tfvars

    def upload(self, model_version: str | None = None) -> int:
        bucket = self.outputs.artifacts_bucket
        version = self.model_version(model_version)
        artifacts, tfvars = self.artifacts(version)
        self.say(f"checking {len(artifacts)} object(s) in s3://{bucket}")
        remote = {a.key: self.aws.object_sha256(bucket, a.key) for a in artifacts}
        actions = plan_uploads(artifacts, bucket, remote)
        tfvars_path = self.infra_dir / TFVARS_FILE
        current = tfvars_path.read_text() if tfvars_path.exists() else None
        if current is not None:  # keep variables set by an earlier run
            tfvars = {**json.loads(current), **tfvars}
        actions += plan_file(
            tfvars_path, json.dumps(tfvars, indent=2, sort_keys=True) + "\n", current
        )

        def run(action: Action) -> None:
            if action.kind == "upload":
                self.aws.upload(
                    bucket,
                    action.params["key"],
                    Path(action.params["path"]),
                    action.params["sha256"],
                    self.outputs.kms_key_arn,
                )
            else:
                Path(action.target).write_text(action.params["text"])

        done = self._carry_out(actions, run)
        if any(a.kind == "write_file" for a in actions) and not self.dry_run:
            self.say(f"next: `terraform -chdir={self.infra_dir} apply` picks up {TFVARS_FILE}")
        return done

    # --- SageMaker endpoints -----------------------------------------------------------

    def endpoint_names(self) -> tuple[str, str]:
        """The family's classifier and anomaly endpoint names, as the stack names them."""
        names = self.outputs.endpoint_names(self.family)
        if not all(names):
            raise RuntimeError(
                f"this stack names no {self.family.noun} endpoints (it predates the "
                f"{self.family.noun} family): `terraform apply` devops/infra, then run this again"
            )
        return names

    def endpoint_specs(
        self,
        model_version: str,
        *,
        instance_type: str,
        instance_count: int,
        serverless_memory_mb: int | None,
    ) -> list[EndpointSpec]:
        prefix = f"s3://{self.outputs.artifacts_bucket}/{self.family.deploy_prefix}/{model_version}"
        classifier, anomaly = self.endpoint_names()
        common: dict[str, Any] = {
            "model_version": model_version,
            "role_arn": self.outputs.sagemaker_role_arn,
            "kms_key_arn": self.outputs.kms_key_arn,
            "instance_type": instance_type,
            "instance_count": instance_count,
            "serverless_memory_mb": serverless_memory_mb,
        }
        return [
            EndpointSpec(
                endpoint=classifier,
                image_uri=self.outputs.xgboost_image_uri,
                environment=CONTAINER_ENVIRONMENT,
                model_data_url=f"{prefix}/{CLASSIFIER_TARBALL}",
                **common,
            ),
            EndpointSpec(
                endpoint=anomaly,
                image_uri=self.outputs.sklearn_image_uri,
                model_data_url=f"{prefix}/{ANOMALY_TARBALL}",
                environment=CONTAINER_ENVIRONMENT,
                **common,
            ),
        ]

    def endpoints(
        self,
        model_version: str | None = None,
        *,
        instance_type: str = "ml.m5.large",
        instance_count: int = 1,
        serverless_memory_mb: int | None = None,
    ) -> int:
        if self.outputs.endpoints_managed_by != "deploy":
            raise RuntimeError(
                "this stack's endpoints are managed by Terraform (endpoints_managed_by = "
                f'"terraform"): set {self.family.version_variable} there (`fraudit deploy '
                "upload` writes it) and apply"
            )
        version = self.model_version(model_version)
        if version is None:
            raise RuntimeError(
                f"no trained model ({self.family.name} family) under {self.model_dir}: "
                f"run `{self.family.train_command}`"
            )
        specs = self.endpoint_specs(
            version,
            instance_type=instance_type,
            instance_count=instance_count,
            serverless_memory_mb=serverless_memory_mb,
        )
        by_name = {s.resource_name: s for s in specs} | {s.endpoint: s for s in specs}
        actions = [a for spec in specs for a in plan_endpoint(spec, self.aws.endpoint_state(spec))]
        if any(a.kind == "create_model" for a in actions):
            self._check_model_prerequisites(specs, version)

        def run(action: Action) -> None:
            spec = by_name[action.target]
            if action.kind == "create_model":
                self.aws.create_model(spec)
            elif action.kind == "create_endpoint_config":
                self.aws.create_endpoint_config(spec)
            elif action.kind == "create_endpoint":
                self.aws.create_endpoint(spec, action.params["config"])
            else:
                self.aws.update_endpoint(spec, action.params["config"])

        return self._carry_out(actions, run)

    def _check_model_prerequisites(self, specs: Sequence[EndpointSpec], version: str) -> None:
        """A model created on a missing role or artifact fails ten minutes later, on
        SageMaker's side: check both before creating anything."""
        if not self.aws.role_exists(self.outputs.sagemaker_role_arn):
            raise RuntimeError(
                f"SageMaker role {self.outputs.sagemaker_role_arn} does not "
                "exist: apply devops/infra first"
            )
        bucket = self.outputs.artifacts_bucket
        for spec in specs:
            key = spec.model_data_url.removeprefix(f"s3://{bucket}/")
            if not self.aws.object_exists(bucket, key):
                raise RuntimeError(
                    f"{spec.model_data_url} is not uploaded: run "
                    f"`fraudit deploy upload --family {self.family.name} --model-version "
                    f"{version}` first"
                )

    # --- Glue job ----------------------------------------------------------------------

    def glue(self, command: Literal["start", "stop", "status"]) -> int:
        job = self.outputs.glue_job_name
        if command == "status":
            runs = self.aws.job_run_details(job)
            if not runs:
                self.say(f"{job}: never run")
            for job_run in runs:
                self.say(
                    f"{job} {job_run['Id']}: {job_run['JobRunState']} (started "
                    f"{job_run.get('StartedOn', '?')})"
                    + (f": {job_run['ErrorMessage']}" if job_run.get("ErrorMessage") else "")
                )
            return 0
        actions = plan_glue(command, job, self.aws.job_runs(job))

        def run(action: Action) -> None:
            if action.kind == "start_job":
                self.say(f"  started run {self.aws.start_job(job)}")
            else:
                self.aws.stop_job(job, action.params["run_id"])

        return self._carry_out(actions, run)

    # --- the operations task -----------------------------------------------------------

    def ops(self, task: Literal["check", "features-rebuild", "features-reap"]) -> int:
        """Run a task of the operations function (inside the VPC: it reaches the cache and
        PostgreSQL). A rebuild larger than one invocation pauses with the card path held
        and is invoked again from where it stopped, until it is done."""
        function = self.outputs.ops_function_name
        if not function:
            self.say("error: the stack has no operations function: `terraform apply` first")
            return 2
        if self.dry_run:
            self.say(f"dry run: would invoke {function} with task {task}")
            return 0
        event: dict[str, Any] = {"task": task}
        read = counted = 0
        while True:
            answer = self.aws.invoke(function, event)
            if task == "check":
                self.say(f"{function}: database {answer['database']}, store {answer['store']}")
                return 0 if answer["store"] == "ok" else 1
            if task == "features-reap":
                judged = {k: v for k, v in answer.items() if k not in {"task", "judged_before_ms"}}
                self.say(f"{function}: unfinished attempts judged: {judged or 'none'}")
                return 0
            read += int(answer["read"])
            counted += int(answer["counted"])
            self.say(
                f"  {read:,} transactions read, {counted:,} counted again "
                f"(through event {answer['after']})"
            )
            if answer["finished"]:
                self.say(f"rebuilt: {read:,} transactions read, {counted:,} counted again")
                return 0
            event = {"task": task, "after": str(answer["after"])}

    # --- the API key ---------------------------------------------------------------------

    def api_key(self, *, rotate: bool = False) -> int:
        """Put a key in the stack's secret if it has none (or a new one on rotation) and
        make the usage plan accept exactly that value: clients send one x-api-key, which
        API Gateway and the Lambda both check. No value is printed or passed to Terraform.
        Returns the number of actions, -1 when the stack has no API."""
        from fraudit.api.wiring import ApiKeyError, parse_api_key_secret

        o = self.outputs
        if not (o.api_key_secret_arn and o.api_usage_plan_id and o.api_name):
            self.say("error: the stack has no API (set api_package_s3_key and apply first)")
            return -1
        stored = self.aws.secret_string(o.api_key_secret_arn)
        value: str | None = None
        if stored is not None:
            try:
                value = parse_api_key_secret(stored)
            except ApiKeyError as exc:
                self.say(f"the secret's value is refused ({exc}): a new key replaces it")
        actions = plan_api_key(
            o.api_name,
            o.api_usage_plan_id,
            value,
            self.aws.usage_plan_keys(o.api_usage_plan_id),
            rotate=rotate,
        )
        current = {"value": value}

        def run(action: Action) -> None:
            if action.kind == "put_api_key_secret":
                current["value"] = secrets.token_urlsafe(32)
                self.aws.put_secret_string(
                    o.api_key_secret_arn, json.dumps({"api_key": current["value"]})
                )
            elif action.kind == "create_gateway_key":
                key = current["value"]
                assert key is not None
                name = gateway_key_name(o.api_name, key)
                self.aws.create_gateway_key(o.api_usage_plan_id, name, key)
                self.say(f"  usage plan key {name}")
            else:
                self.aws.delete_gateway_key(o.api_usage_plan_id, action.params["id"])

        done = self._carry_out(actions, run)
        if done and not self.dry_run:
            self.say(
                "read the key with: aws secretsmanager get-secret-value --secret-id "
                f"{o.api_key_secret_arn} --query SecretString (the API picks a new value up "
                "within FRAUDIT_API_KEY_REFRESH_SECONDS)"
            )
        return done

    # --- .env --------------------------------------------------------------------------

    def env(self, out: Path) -> int:
        if not self.aws.secret_exists(self.outputs.FRAUDIT_DATABASE_SECRET_ID):
            self.say(
                f"warning: the database secret {self.outputs.FRAUDIT_DATABASE_SECRET_ID} "
                "is not there (yet): the dashboard and the job will not connect"
            )
        current = out.read_text() if out.exists() else None
        actions = plan_file(out, env_text(self.outputs), current)
        return self._carry_out(actions, lambda a: Path(a.target).write_text(a.params["text"]))
