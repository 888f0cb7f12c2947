"""`fraudit deploy` against moto's S3, KMS, SageMaker, Glue and Secrets Manager: every
command, its dry run, and a re-run that changes nothing. The model artifacts are a real
training run; the wheelhouse build downloads real wheels from PyPI."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.moto_api import state_manager

from fraudit.deploy.aws import DeployAws
from fraudit.deploy.commands import (
    DASHBOARD_WHEELHOUSE_KEY,
    GLUE_BACKTEST_SCRIPT_KEY,
    GLUE_SCRIPT_KEY,
    GLUE_WHEELHOUSE_KEY,
    TFVARS_FILE,
    Deployer,
)
from fraudit.deploy.outputs import StackOutputs, env_text, read_outputs
from fraudit.deploy.plan import OwnershipError
from fraudit.families import ModelFamily
from fraudit.families.cards import CARDS
from fraudit.families.ulb import ULB
from fraudit.models.layout import CANDIDATES_DIR
from tests.conftest import REPO

pytestmark = pytest.mark.integration

REGION = "eu-west-1"
ACCOUNT = "123456789012"


def terraform_output_json(
    kms_key_arn: str, managed_by: str = "deploy", *, card_endpoints: bool = True
) -> dict:
    values = {
        "AWS_REGION": REGION,
        "FRAUDIT_STREAM_NAME": "fraudit-dev-predictions",
        "FRAUDIT_CLASSIFIER_ENDPOINT": "fraudit-dev-classifier",
        "FRAUDIT_ANOMALY_ENDPOINT": "fraudit-dev-anomaly",
        "FRAUDIT_POLICY_S3_URI": "s3://fraudit-dev-artifacts/policy/policy.json",
        "FRAUDIT_DATABASE_SECRET_ID": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db",
        "FRAUDIT_DATABASE_HOST": "fraudit-dev.abc.eu-west-1.rds.amazonaws.com",
        "FRAUDIT_DATABASE_PORT": 5432,
        "FRAUDIT_DATABASE_NAME": "fraudit",
        "api_url": "",
        "artifacts_bucket": "fraudit-dev-artifacts",
        "checkpoints_bucket": "fraudit-dev-checkpoints",
        "glue_job_name": "fraudit-dev-elt",
        "sagemaker_role_arn": f"arn:aws:iam::{ACCOUNT}:role/fraudit-dev-sagemaker",
        "kms_key_arn": kms_key_arn,
        "xgboost_image_tag": "3.0-5",
        "xgboost_image_uri": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5",
        "sklearn_image_uri": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/"
        "sagemaker-scikit-learn:1.4-2-cpu-py3",
        "endpoints_managed_by": managed_by,
        "dashboard_instance_id": "i-0abc",
    }
    if card_endpoints:  # a stack applied before the card family has neither
        values["FRAUDIT_CARD_CLASSIFIER_ENDPOINT"] = "fraudit-dev-card-classifier"
        values["FRAUDIT_CARD_ANOMALY_ENDPOINT"] = "fraudit-dev-card-anomaly"
    return {k: {"value": v, "type": "string", "sensitive": False} for k, v in values.items()}


@pytest.fixture
def aws():
    with mock_aws():
        kms = boto3.client("kms", region_name=REGION)
        key_arn = kms.create_key()["KeyMetadata"]["Arn"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(
            Bucket="fraudit-dev-artifacts", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield key_arn


@pytest.fixture
def build_dir(tmp_path) -> Path:
    """Wheelhouse and API zips as `fraudit deploy build` leaves them (contents opaque to
    the upload; the real build is tested below)."""
    folder = tmp_path / "build"
    (folder / "api").mkdir(parents=True)
    for name in (
        "fraudit-glue.gluewheels.zip",
        "fraudit-dashboard-wheelhouse.zip",
        "api/deployment.zip",
    ):
        with zipfile.ZipFile(folder / name, "w") as archive:
            archive.writestr("placeholder.txt", name)
    return folder


def deployer(
    aws_key: str,
    tmp_path: Path,
    build_dir: Path,
    model_dir: Path,
    lines: list[str],
    *,
    managed_by: str = "deploy",
    dry_run: bool = False,
    family: ModelFamily = ULB,
    card_endpoints: bool = True,
) -> Deployer:
    infra = tmp_path / "infra"
    infra.mkdir(exist_ok=True)
    outputs = StackOutputs.from_terraform_json(
        terraform_output_json(aws_key, managed_by, card_endpoints=card_endpoints)
    )
    return Deployer(
        repo=REPO,
        build_dir=build_dir,
        infra_dir=infra,
        model_dir=model_dir,
        outputs=outputs,
        aws=DeployAws(REGION),
        dry_run=dry_run,
        say=lines.append,
        family=family,
    )


def test_upload_puts_every_artifact_once_and_a_rerun_changes_nothing(
    aws, tmp_path, build_dir, trained
):
    model_dir = trained.path.parent
    lines: list[str] = []
    first = deployer(aws, tmp_path, build_dir, model_dir, lines)
    # 2 Glue scripts, 2 wheelhouses, API zip, 4 model files, policy, tfvars
    assert first.upload() == 11
    s3 = boto3.client("s3", region_name=REGION)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="fraudit-dev-artifacts")["Contents"]}
    version = trained.version
    assert {
        GLUE_SCRIPT_KEY,
        GLUE_BACKTEST_SCRIPT_KEY,
        GLUE_WHEELHOUSE_KEY,
        DASHBOARD_WHEELHOUSE_KEY,
        ULB.policy_key,
        f"models/{version}/classifier/model.tar.gz",
        f"models/{version}/anomaly/model.tar.gz",
    } <= keys
    head = s3.head_object(Bucket="fraudit-dev-artifacts", Key=ULB.policy_key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == aws
    policy = s3.get_object(Bucket="fraudit-dev-artifacts", Key=ULB.policy_key)["Body"].read()
    assert policy == (model_dir / version / "policy.json").read_bytes()
    script = s3.get_object(Bucket="fraudit-dev-artifacts", Key=GLUE_SCRIPT_KEY)["Body"].read()
    # The few-line shell Glue runs, which calls the job in the wheel.
    assert b"from fraudit.stream.glue import main" in script
    assert b"main(sys.argv[1:])" in script
    tfvars = json.loads((tmp_path / "infra" / TFVARS_FILE).read_text())
    assert tfvars["model_version"] == version
    assert tfvars["api_package_s3_key"] in keys

    lines.clear()
    assert deployer(aws, tmp_path, build_dir, model_dir, lines).upload() == 0
    assert lines[-1] == "nothing to do: everything is in place"

    # One changed file: exactly one upload, and the dry run of it uploads nothing.
    with zipfile.ZipFile(build_dir / "fraudit-glue.gluewheels.zip", "a") as archive:
        archive.writestr("another.txt", "changed")
    lines.clear()
    assert deployer(aws, tmp_path, build_dir, model_dir, lines, dry_run=True).upload() == 1
    assert any(
        "upload" in line and GLUE_WHEELHOUSE_KEY in line and "changed" in line for line in lines
    )
    assert deployer(aws, tmp_path, build_dir, model_dir, []).upload() == 1
    assert deployer(aws, tmp_path, build_dir, model_dir, []).upload() == 0


def test_upload_without_builds_or_models_says_what_it_left_out(aws, tmp_path):
    lines: list[str] = []
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert deployer(aws, tmp_path, empty, empty, lines).upload() == 3  # 2 scripts + tfvars
    text = "\n".join(lines)
    assert "not built" in text
    assert "no trained model" in text


def _fill_moto_gaps(aws: DeployAws) -> None:
    """moto 5 implements neither UpdateEndpoint nor BatchStopJobRun: answer both from
    moto's own backend state, so the rest of the call path stays real."""
    from types import SimpleNamespace

    from moto.glue.models import glue_backends
    from moto.sagemaker.models import sagemaker_backends

    ok = SimpleNamespace(status_code=200, headers={})

    def update_endpoint(params, **_):
        body = json.loads(params["body"])
        backend = sagemaker_backends[ACCOUNT][REGION]
        backend.endpoints[body["EndpointName"]].endpoint_config_name = body["EndpointConfigName"]
        return ok, {"EndpointArn": "arn"}

    def stop_runs(params, **_):
        body = json.loads(params["body"])
        job = glue_backends[ACCOUNT][REGION].jobs[body["JobName"]]
        for run in job.job_runs:
            if run.job_run_id in body["JobRunIds"]:
                run.status = "STOPPED"
        return ok, {"SuccessfulSubmissions": [], "Errors": []}

    aws._client("sagemaker").meta.events.register(
        "before-call.sagemaker.UpdateEndpoint", update_endpoint
    )
    aws._client("glue").meta.events.register("before-call.glue.BatchStopJobRun", stop_runs)


def _sagemaker_role() -> None:
    boto3.client("iam", region_name=REGION).create_role(
        RoleName="fraudit-dev-sagemaker",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                    }
                ],
            }
        ),
    )


def test_endpoints_created_then_left_alone_then_switched_to_a_new_version(
    aws, tmp_path, build_dir, trained
):
    model_dir = tmp_path / "models"
    shutil.copytree(trained.path.parent, model_dir)
    version = trained.version
    d = deployer(aws, tmp_path, build_dir, model_dir, [])
    _fill_moto_gaps(d.aws)
    with pytest.raises(RuntimeError, match=r"role .* does not exist"):
        d.endpoints(version)
    _sagemaker_role()
    with pytest.raises(RuntimeError, match="is not uploaded"):
        d.endpoints(version)  # a model on a missing artifact would fail on SageMaker's side
    d.upload(version)
    assert d.endpoints(version, serverless_memory_mb=2048) == 6
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    classifier = sagemaker.describe_endpoint(EndpointName="fraudit-dev-classifier")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=classifier["EndpointConfigName"])
    assert config["ProductionVariants"][0]["ServerlessConfig"]["MemorySizeInMB"] == 2048
    model = sagemaker.describe_model(ModelName=classifier["EndpointConfigName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == (
        f"s3://fraudit-dev-artifacts/models/{version}/classifier/model.tar.gz"
    )
    assert "sagemaker-xgboost:3.0-5" in model["PrimaryContainer"]["Image"]
    anomaly = sagemaker.describe_model(
        ModelName=sagemaker.describe_endpoint(EndpointName="fraudit-dev-anomaly")[
            "EndpointConfigName"
        ]
    )
    assert anomaly["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"

    assert d.endpoints(version) == 0  # same version: nothing to do

    newer = "29990101T000000Z-newer"
    shutil.copytree(model_dir / version, model_dir / newer)
    d.upload(newer)
    lines: list[str] = []
    dry = deployer(aws, tmp_path, build_dir, model_dir, lines, dry_run=True)
    assert dry.endpoints(newer) == 6
    assert (
        sagemaker.describe_endpoint(EndpointName="fraudit-dev-classifier")["EndpointConfigName"]
        == classifier["EndpointConfigName"]
    )  # the dry run changed nothing
    assert sum("update_endpoint" in line for line in lines) == 2
    assert d.endpoints(newer) == 6  # 2 models, 2 configs, 2 switches
    switched = sagemaker.describe_endpoint(EndpointName="fraudit-dev-classifier")
    assert switched["EndpointConfigName"] != classifier["EndpointConfigName"]
    assert d.endpoints(newer) == 0


def test_the_card_family_uploads_beside_the_ulb_one_and_gets_its_own_endpoints(
    aws, tmp_path, build_dir, trained_cards
):
    """Its version under models/cards/, its policy under policy/cards/, its Terraform
    variable card_model_version; its endpoints the stack's FRAUDIT_CARD_* names, on the
    same images; a stack that predates the card family is told to apply first."""
    result, _, _ = trained_cards
    model_dir = result.path.parent.parent
    version = result.version
    cards = deployer(aws, tmp_path, build_dir, model_dir, [], family=CARDS)
    _fill_moto_gaps(cards.aws)
    _sagemaker_role()
    assert cards.upload() == 11
    s3 = boto3.client("s3", region_name=REGION)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="fraudit-dev-artifacts")["Contents"]}
    assert {
        f"models/cards/{version}/classifier/model.tar.gz",
        f"models/cards/{version}/anomaly/model.tar.gz",
        "policy/cards/policy.json",
    } <= keys
    assert ULB.policy_key not in keys  # the ULB family's policy is not the card family's
    tfvars = json.loads((tmp_path / "infra" / TFVARS_FILE).read_text())
    assert tfvars["card_model_version"] == version
    assert "model_version" not in tfvars
    assert cards.endpoints() == 6
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    for name, artifact, image in (
        ("fraudit-dev-card-classifier", "classifier", "sagemaker-xgboost:3.0-5"),
        ("fraudit-dev-card-anomaly", "anomaly", "sagemaker-scikit-learn:1.4-2"),
    ):
        config = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
        container = sagemaker.describe_model(ModelName=config)["PrimaryContainer"]
        assert container["ModelDataUrl"] == (
            f"s3://fraudit-dev-artifacts/models/cards/{version}/{artifact}/model.tar.gz"
        )
        assert image in container["Image"]
    assert cards.endpoints() == 0
    old_stack = deployer(
        aws, tmp_path, build_dir, model_dir, [], family=CARDS, card_endpoints=False
    )
    with pytest.raises(RuntimeError, match="names no card endpoints"):
        old_stack.endpoints(version)


def test_endpoints_refuse_to_touch_what_terraform_owns(aws, tmp_path, build_dir, trained):
    owned = deployer(aws, tmp_path, build_dir, trained.path.parent, [], managed_by="terraform")
    with pytest.raises(RuntimeError, match="managed by Terraform"):
        owned.endpoints(trained.version)
    # A stack that says "deploy" but whose endpoint carries Terraform's tag: refused too.
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model(
        ModelName="tf-model",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
        PrimaryContainer={"Image": "x", "ModelDataUrl": "s3://b/k"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="tf-config",
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": "tf-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(
        EndpointName="fraudit-dev-classifier",
        EndpointConfigName="tf-config",
        Tags=[{"Key": "managed-by", "Value": "terraform"}],
    )
    with pytest.raises(OwnershipError, match="managed by Terraform"):
        deployer(aws, tmp_path, build_dir, trained.path.parent, []).endpoints(trained.version)


def test_glue_start_is_idempotent_stop_stops_and_status_reports(aws, tmp_path, build_dir):
    glue = boto3.client("glue", region_name=REGION)
    glue.create_job(
        Name="fraudit-dev-elt",
        Role=f"arn:aws:iam::{ACCOUNT}:role/glue",
        GlueVersion="5.0",
        Command={"Name": "gluestreaming", "ScriptLocation": "s3://b/glue/job.py"},
    )
    state_manager.set_transition(
        model_name="glue::job_run", transition={"progression": "manual", "times": 1000}
    )
    try:
        lines: list[str] = []
        d = deployer(aws, tmp_path, build_dir, tmp_path, lines)
        _fill_moto_gaps(d.aws)
        assert d.glue("start") == 1
        assert d.glue("start") == 0  # a run is active: a second would share its checkpoint
        runs = glue.get_job_runs(JobName="fraudit-dev-elt")["JobRuns"]
        assert [r["JobRunState"] for r in runs] == ["STARTING"]
        lines.clear()
        d.glue("status")
        assert lines
        assert "STARTING" in lines[0]
        assert deployer(aws, tmp_path, build_dir, tmp_path, [], dry_run=True).glue("stop") == 1
        assert (
            glue.get_job_runs(JobName="fraudit-dev-elt")["JobRuns"][0]["JobRunState"] == "STARTING"
        )  # dry run
        assert d.glue("stop") == 1
        assert (
            glue.get_job_runs(JobName="fraudit-dev-elt")["JobRuns"][0]["JobRunState"] == "STOPPED"
        )
        assert d.glue("stop") == 0
        assert d.glue("start") == 1  # stopped: a new run may start
    finally:
        state_manager.unset_transition("glue::job_run")


def test_env_file_from_outputs_configures_fraudit_for_the_stack(aws, tmp_path, build_dir):
    from fraudit.settings import Settings

    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(terraform_output_json(aws)))
    outputs = read_outputs(outputs_file=outputs_file)
    lines: list[str] = []
    d = deployer(aws, tmp_path, build_dir, tmp_path, lines)
    out = tmp_path / ".env.aws"
    assert d.env(out) == 1
    assert any("secret" in line and "is not there" in line for line in lines)
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="rds!db", SecretString=json.dumps({"username": "u", "password": "p"})
    )
    outputs_file.write_text(
        json.dumps(
            terraform_output_json(aws)
            | {"FRAUDIT_DATABASE_SECRET_ID": {"value": "rds!db", "type": "string"}}
        )
    )
    lines.clear()
    d = deployer(aws, tmp_path, build_dir, tmp_path, lines)
    d.outputs = read_outputs(outputs_file=outputs_file)
    assert d.env(out) == 1  # the secret id changed
    assert d.env(out) == 0
    assert not any("is not there" in line for line in lines)
    outputs = d.outputs
    settings = Settings(_env_file=out)
    assert settings.aws_region == REGION
    assert settings.stream_name == "fraudit-dev-predictions"
    assert settings.family(ULB).classifier_endpoint == "fraudit-dev-classifier"
    assert settings.database_secret_id == outputs.FRAUDIT_DATABASE_SECRET_ID
    assert settings.database_host.endswith(".rds.amazonaws.com")
    assert settings.family(ULB).policy_s3_uri == "s3://fraudit-dev-artifacts/policy/policy.json"
    text = env_text(outputs)
    assert "dashboard_instance_id" not in text
    assert "kms" not in text.lower()
    variables = [line for line in text.splitlines() if not line.startswith("#")]
    assert variables
    assert not any("PASSWORD" in line.upper() for line in variables)


def test_cli_dry_run_upload_from_saved_outputs(aws, tmp_path, capsys, trained):
    from fraudit.cli import main

    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(terraform_output_json(aws)))
    code = main(
        [
            "deploy",
            "--outputs",
            str(outputs_file),
            "--infra",
            str(tmp_path),
            "--build-dir",
            str(tmp_path / "none"),
            "--model-dir",
            str(trained.path.parent),
            "--dry-run",
            "upload",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    # 2 Glue scripts, 4 model files, the policy, the tfvars
    assert "dry run: 8 action(s) planned, none carried out" in out
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.list_objects_v2(Bucket="fraudit-dev-artifacts").get("KeyCount") == 0
    assert not (tmp_path / TFVARS_FILE).exists()


def test_a_candidate_uploads_to_score_in_shadow_and_leaves_the_live_model_alone(
    aws, tmp_path, build_dir, trained, monkeypatch
):
    """`upload --shadow` reads the candidates folder by default, publishes the candidate's
    policy at the family's shadow key and sets its shadow variable: the live policy and
    version stay as they were."""
    from fraudit.cli import main
    from fraudit.settings import get_settings

    s3 = boto3.client("s3", region_name=REGION)
    before = b'{"the live policy": true}'
    s3.put_object(Bucket="fraudit-dev-artifacts", Key=ULB.policy_key, Body=before)
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / TFVARS_FILE).write_text(json.dumps({ULB.version_variable: "v-live"}))
    models = tmp_path / "models"
    candidates = models / CANDIDATES_DIR
    candidates.mkdir(parents=True)
    (candidates / trained.version).symlink_to(trained.path, target_is_directory=True)
    (candidates / "LATEST").write_text(trained.version)
    (tmp_path / "outputs.json").write_text(json.dumps(terraform_output_json(aws)))
    monkeypatch.setenv("FRAUDIT_MODEL_DIR", str(models))  # no live model there at all
    common = ["deploy", "--outputs", str(tmp_path / "outputs.json")]
    common += ["--infra", str(tmp_path / "infra"), "--build-dir", str(build_dir)]
    get_settings.cache_clear()  # the command reads these settings
    try:
        assert main([*common, "upload", "--shadow"]) == 0
    finally:
        get_settings.cache_clear()
    shadow_policy = s3.get_object(Bucket="fraudit-dev-artifacts", Key=ULB.shadow_policy_key)
    assert shadow_policy["Body"].read() == (trained.path / "policy.json").read_bytes()
    after = s3.get_object(Bucket="fraudit-dev-artifacts", Key=ULB.policy_key)["Body"].read()
    assert after == before
    tfvars = json.loads((tmp_path / "infra" / TFVARS_FILE).read_text())
    assert tfvars[ULB.shadow_version_variable] == trained.version
    assert tfvars[ULB.version_variable] == "v-live"  # the live one's, untouched


def test_check_model_loads_the_artifact_with_the_images_xgboost(tmp_path, trained):
    from fraudit.deploy.model_check import check_classifier, xgboost_version_for
    from fraudit.models.layout import CLASSIFIER_TARBALL
    from fraudit.models.ulb.serving import sample_rows

    tarball = trained.path / CLASSIFIER_TARBALL
    result = check_classifier(tarball, "3.0-5", tmp_path, sample_rows())
    assert result.ok
    assert result.xgboost_version == "3.0.5"
    assert result.rows == 64
    with pytest.raises(ValueError, match="no known xgboost release"):
        xgboost_version_for("1.7-1")
    broken = tmp_path / "broken.tar.gz"
    import io
    import tarfile

    with tarfile.open(broken, "w:gz") as tar:
        data = b'{"learner": "not a model"}'
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(RuntimeError, match="does not load"):
        check_classifier(broken, "3.0-5", tmp_path, sample_rows())
    # The check covers the explanations: an inference.py whose contributions are off fails.
    with tarfile.open(tarball) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    members["code/inference.py"] = members["code/inference.py"].replace(
        b'"contributions": c[:-1].tolist()', b'"contributions": (c[:-1] * 1.001).tolist()'
    )
    assert b"1.001" in members["code/inference.py"]
    skewed = tmp_path / "skewed.tar.gz"
    with tarfile.open(skewed, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert not check_classifier(skewed, "3.0-5", tmp_path, sample_rows()).ok


def test_build_ops_package_holds_fraudit_and_the_clients_of_the_store_and_the_database(
    tmp_path,
):
    """The operations task's Lambda zip: fraudit with its handler, and Linux x86_64 CPython
    3.11 builds of psycopg and hiredis, installed at the zip's root as Lambda imports them."""
    from fraudit.deploy import build

    wheel = build.build_wheel(REPO, tmp_path, say=lambda _: None)
    out = build.build_ops_package(wheel, REPO / "constraints.txt", tmp_path, say=lambda _: None)
    assert out == tmp_path / "ops" / "deployment.zip"
    names = zipfile.ZipFile(out).namelist()
    assert "fraudit/ops/handler.py" in names
    assert "fraudit/online/scripts.py" in names
    assert any(n.startswith("psycopg_binary/") and "x86_64" in n for n in names)
    assert any(n.startswith("hiredis/") and "cpython-311-x86_64" in n for n in names)
    assert any(n.startswith("redis/") for n in names)
    assert not any(n.startswith(("boto3/", "numpy/", "pyspark/")) for n in names)


@pytest.mark.slow
def test_build_glue_wheelhouse_holds_fraudit_and_its_linux_wheels(tmp_path):
    from fraudit.deploy import build

    wheel = build.build_wheel(REPO, tmp_path, say=lambda _: None)
    out = build.build_wheelhouse(
        build.GLUE, wheel, REPO / "constraints.txt", tmp_path, say=lambda _: None
    )
    assert out.name.endswith(".gluewheels.zip")
    names = zipfile.ZipFile(out).namelist()
    assert wheel.name in names
    assert all("/" not in n and n.endswith(".whl") for n in names)
    binary = [n for n in names if n.startswith("psycopg_binary-")]
    assert binary
    assert "cp311" in binary[0]
    assert "x86_64" in binary[0]
    assert any(n.startswith("pydantic_core-") and "x86_64" in n for n in names)
    assert not any(n.startswith(("pyspark", "boto3", "pyarrow")) for n in names)  # Glue has them
    # The fraudit wheel carries the job's SQL and rules.
    members = zipfile.ZipFile(tmp_path / wheel.name).namelist()
    assert "fraudit/stream/rules.toml" in members
    assert any(m.startswith("fraudit/db/migrations/") for m in members)


@pytest.mark.slow
def test_a_different_xgboost_release_gets_its_own_cached_virtualenv(tmp_path):
    import subprocess

    from fraudit.deploy.model_check import python_with_xgboost

    python = python_with_xgboost("3.0.4", tmp_path)
    assert python.parent.parent == tmp_path / "xgboost-3.0.4"
    version = subprocess.run(
        [str(python), "-c", "import xgboost; print(xgboost.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == "3.0.4"
    assert python_with_xgboost("3.0.4", tmp_path) == python  # cached: built once


def _api_stack(d: Deployer) -> Deployer:
    """An API, its stage and usage plan, and the empty key secret, as Terraform leaves them."""
    gateway = boto3.client("apigateway", region_name=REGION)
    api = gateway.create_rest_api(name="fraudit-dev-api")["id"]
    root = gateway.get_resources(restApiId=api)["items"][0]["id"]
    gateway.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    gateway.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    gateway.create_deployment(restApiId=api, stageName="api")
    plan = gateway.create_usage_plan(
        name="fraudit-dev-api", apiStages=[{"apiId": api, "stage": "api"}]
    )
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="fraudit-dev-api-key-x"
    )["ARN"]
    d.outputs = d.outputs.model_copy(
        update={
            "api_name": "fraudit-dev-api",
            "api_key_secret_arn": secret,
            "api_usage_plan_id": plan["id"],
        }
    )
    return d


def _plan_key_values(plan_id: str) -> dict[str, str]:
    gateway = boto3.client("apigateway", region_name=REGION)
    keys = gateway.get_usage_plan_keys(usagePlanId=plan_id)["items"]
    return {
        k["name"]: gateway.get_api_key(apiKey=k["id"], includeValue=True)["value"] for k in keys
    }


def test_api_key_fills_the_secret_and_the_usage_plan_with_one_value(aws, tmp_path, build_dir):
    """Main: Terraform made the gateway key (value in the state) and the Lambda had no key
    secret. Now the value exists only in the secret and on the usage plan, equal."""
    from fraudit.api.wiring import resolve_api_key
    from fraudit.settings import Settings

    lines: list[str] = []
    d = _api_stack(deployer(aws, tmp_path, build_dir, tmp_path, lines))
    o = d.outputs
    dry = Deployer(**{**d.__dict__, "dry_run": True})
    assert dry.api_key() == 2
    assert _plan_key_values(o.api_usage_plan_id) == {}

    assert d.api_key() == 2  # the secret's value, then the gateway key
    the_key = resolve_api_key(
        Settings(_env_file=None, AWS_REGION=REGION, api_key_secret_id=o.api_key_secret_arn)
    )
    assert the_key
    assert len(the_key) >= 20
    assert list(_plan_key_values(o.api_usage_plan_id).values()) == [the_key]
    assert not any(the_key in line for line in lines)  # never printed
    assert d.api_key() == 0  # a re-run changes nothing

    assert d.api_key(rotate=True) == 3  # new value, its gateway key, the old key deleted
    rotated = resolve_api_key(
        Settings(_env_file=None, AWS_REGION=REGION, api_key_secret_id=o.api_key_secret_arn)
    )
    assert rotated != the_key
    assert list(_plan_key_values(o.api_usage_plan_id).values()) == [rotated]


def test_api_key_replaces_an_empty_secret_value(aws, tmp_path, build_dir):
    """`{"api_key": ""}` turned the key check off on main; the deploy tool replaces it."""
    lines: list[str] = []
    d = _api_stack(deployer(aws, tmp_path, build_dir, tmp_path, lines))
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.put_secret_value(SecretId=d.outputs.api_key_secret_arn, SecretString='{"api_key": ""}')
    assert d.api_key() == 2
    assert any("refused" in line for line in lines)
    value = json.loads(
        secrets.get_secret_value(SecretId=d.outputs.api_key_secret_arn)["SecretString"]
    )["api_key"]
    assert list(_plan_key_values(d.outputs.api_usage_plan_id).values()) == [value]


def test_api_key_without_an_api_in_the_stack_is_an_error(aws, tmp_path, build_dir):
    lines: list[str] = []
    assert deployer(aws, tmp_path, build_dir, tmp_path, lines).api_key() == -1
    assert "no API" in lines[0]
