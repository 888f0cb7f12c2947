"""devops/infra read as HCL (python-hcl2): the properties the stack promises, checked
without AWS. `make check-infra` adds terraform fmt (1.0 and the system's) and checkov."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from fraudit.api.app import LAMBDA_ANSWER_MARGIN_SECONDS
from fraudit.deploy import commands
from fraudit.families.cards import CARDS
from fraudit.families.ulb import ULB
from fraudit.online.plan import StoreKeys
from fraudit.settings import Settings, setting_variables
from tests.conftest import REPO
from tests.support.terraform import online_store_access_string

pytestmark = pytest.mark.unit

INFRA = REPO / "devops" / "infra"
FILES = sorted(INFRA.rglob("*.tf"))


def _clean(value: Any) -> Any:
    """python-hcl2 keeps HCL's quotes around strings and keys; drop them."""
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _load(path: Path) -> dict[str, Any]:
    with open(path) as handle:
        return _clean(hcl2.load(handle))


@pytest.fixture(scope="module")
def hcl() -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for path in FILES:
        for kind, blocks in _load(path).items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def _blocks(hcl: dict[str, list[Any]], kind: str, type_: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in hcl.get(kind, []):
        for t, named in block.items():
            if t == type_:
                found.update(named)
    return found


def _resource(hcl, type_: str, name: str) -> dict[str, Any]:
    return _blocks(hcl, "resource", type_)[name]


def _one(block: dict[str, Any], key: str) -> dict[str, Any]:
    (inner,) = block[key]
    return inner


def test_every_file_parses_and_pins_aws_provider_5(hcl):
    assert len(FILES) >= 12
    (terraform,) = hcl["terraform"]
    aws = terraform["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert re.fullmatch(r">= 5\.\d+, < 6\.0", aws["version"])


def test_glue_job_is_a_glue_5_streaming_job_fed_from_the_wheelhouse(hcl):
    job = _resource(hcl, "aws_glue_job", "elt")
    assert _one(job, "command")["name"] == "gluestreaming"
    assert job["glue_version"] == "${var.glue_version}"
    version = _blocks(hcl, "variable", "glue_version")
    assert re.fullmatch(r"5\.\d+", version["default"])
    assert "^5" in _one(version, "validation")["condition"]
    assert _one(job, "execution_property")["max_concurrent_runs"] == 1
    assert job["connections"] == ["${aws_glue_connection.vpc.name}"]
    args = job["default_arguments"]
    assert args["--additional-python-modules"].startswith("s3://")
    assert args["--additional-python-modules"].endswith("${local.glue_wheelhouse_key}")
    assert args["--checkpoint_location"].startswith("s3://${module.checkpoints_bucket.id}")
    assert args["--stream_arn"] == "${aws_kinesis_stream.events.arn}"
    assert "master_user_secret" in args["--db_secret_arn"]
    # The job's arguments are exactly those glue_job.parse_args knows, plus Glue's own.
    from fraudit.stream.glue import parse_args

    ours = {
        k
        for k in args
        if not k.startswith("--enable")
        and k
        not in {
            "--job-language",
            "--additional-python-modules",
            "--TempDir",
            "--continuous-log-logGroup",
        }
    }
    argv = [x for k in sorted(ours) for x in (k, _sample(k))]
    parsed = parse_args(argv)
    assert {f"--{k}" for k, v in vars(parsed).items() if v is not None} >= ours


def _sample(flag: str) -> str:
    return {
        "--stream_arn": "arn:aws:kinesis:us-east-1:1:stream/s",
        "--checkpoint_location": "s3://b/elt/",
        "--db_port": "5432",
    }.get(flag, "x")


def test_the_job_reaches_aws_through_vpc_endpoints(hcl):
    endpoints = _blocks(hcl, "resource", "aws_vpc_endpoint")
    assert endpoints["s3"]["vpc_endpoint_type"] == "Gateway"
    (local_block,) = [b for b in hcl["locals"] if "interface_endpoints" in b]
    services = set(re.findall(r'"([a-z-]+)"', local_block["interface_endpoints"]))
    assert {"kinesis-streams", "secretsmanager", "logs", "monitoring"} <= services
    # No internet gateway and no NAT: private subnets only.
    assert not _blocks(hcl, "resource", "aws_internet_gateway")
    assert not _blocks(hcl, "resource", "aws_nat_gateway")


def test_everything_that_stores_data_is_encrypted(hcl):
    stream = _resource(hcl, "aws_kinesis_stream", "events")
    assert stream["encryption_type"] == "KMS"
    assert "aws_kms_key.main" in stream["kms_key_id"]
    db = _resource(hcl, "aws_db_instance", "main")
    assert db["storage_encrypted"] is True
    assert db["publicly_accessible"] is False
    assert db["manage_master_user_password"] is True
    assert "password" not in db  # RDS generates and keeps it in Secrets Manager
    assert db["performance_insights_kms_key_id"].startswith("${aws_kms_key")
    bucket = _load(INFRA / "modules" / "private_bucket" / "main.tf")["resource"]
    by_type = {t: named for block in bucket for t, named in block.items()}
    sse = by_type["aws_s3_bucket_server_side_encryption_configuration"]["this"]
    assert (
        _one(_one(sse, "rule"), "apply_server_side_encryption_by_default")["sse_algorithm"]
        == "aws:kms"
    )
    block = by_type["aws_s3_bucket_public_access_block"]["this"]
    assert all(
        block[k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    assert (
        _one(by_type["aws_s3_bucket_versioning"]["this"], "versioning_configuration")["status"]
        == "Enabled"
    )
    for name, group in _blocks(hcl, "resource", "aws_cloudwatch_log_group").items():
        assert group["kms_key_id"] == "${aws_kms_key.main.arn}", name
    assert _resource(hcl, "aws_sns_topic", "alarms")["kms_master_key_id"]
    config = _resource(hcl, "aws_sagemaker_endpoint_configuration", "model")
    assert "aws_kms_key.main.arn" in config["kms_key_arn"]
    glue_security = _one(
        _resource(hcl, "aws_glue_security_configuration", "main"), "encryption_configuration"
    )
    assert _one(glue_security, "s3_encryption")["s3_encryption_mode"] == "SSE-KMS"
    assert _one(glue_security, "cloudwatch_encryption")["cloudwatch_encryption_mode"] == "SSE-KMS"
    assert _resource(hcl, "aws_kms_key", "main")["enable_key_rotation"] is True
    dashboard = _resource(hcl, "aws_instance", "dashboard")
    assert _one(dashboard, "root_block_device")["encrypted"] is True
    assert _one(dashboard, "metadata_options")["http_tokens"] == "required"


SECRET_WORDS = re.compile(r"password|secret_value|private_key|access_key|token|(^|_)api_key$", re.I)


def test_no_secret_in_variables_arguments_or_environment(hcl):
    for block in hcl["variable"]:
        for name in block:
            assert not SECRET_WORDS.search(name), f"variable {name} looks like a secret"
    text = "\n".join(p.read_text() for p in FILES)
    assert not re.search(r"^\s*(password|master_password)\s*=", text, re.M)
    job_args = _resource(hcl, "aws_glue_job", "elt")["default_arguments"]
    assert not any(SECRET_WORDS.search(k) for k in job_args)
    env = _one(_resource(hcl, "aws_lambda_function", "api"), "environment")["variables"]
    assert not any(SECRET_WORDS.search(k) for k in env)
    user_data = (INFRA / "dashboard-user-data.sh.tftpl").read_text()
    assert "PASSWORD" not in user_data.upper().replace("THE PASSWORD", "")


# Actions AWS does not let a policy scope to a resource: "*" is the only valid resource.
UNSCOPABLE = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",
    "ecr:GetAuthorizationToken",
}


def test_iam_is_least_privilege(hcl):
    documents = _blocks(hcl, "data", "aws_iam_policy_document")
    checked = 0
    for name, document in documents.items():
        if name == "kms":  # a key policy: "*" there means the key itself
            continue
        for statement in document.get("statement", []):
            actions = statement.get("actions", [])
            if statement.get("effect") == "Deny":
                continue
            assert not any(a == "*" or a.endswith(":*") for a in actions), (name, actions)
            if statement.get("resources") == ["*"]:
                allowed = all(a in UNSCOPABLE or a.startswith("ec2:Describe") for a in actions)
                assert allowed, f"{name}: {actions} on * could be scoped"
            checked += 1
    assert checked >= 20
    api = {s["sid"]: s for s in documents["api"]["statement"]}
    assert api["InvokeTheTwoModelEndpoints"]["actions"] == ["sagemaker:InvokeEndpoint"]
    assert len(api["InvokeTheTwoModelEndpoints"]["resources"]) == 2
    assert set(api["PublishScoredEvents"]["resources"]) == {"${local.stream_arn}"}
    glue = {s["sid"]: s for s in documents["glue"]["statement"]}
    assert glue["ReadTheDatabaseSecret"]["resources"] == ["${local.db_secret_arn}"]
    assert not any(a.startswith("kinesis:Put") for a in glue["ReadTheStream"]["actions"])
    sagemaker = {s["sid"]: s for s in documents["sagemaker"]["statement"]}
    assert sagemaker["ReadModelArtifacts"]["resources"] == ["${local.artifacts_arn}/models/*"]


def test_database_admits_only_the_glue_job_the_dashboard_and_the_operations_task(hcl):
    rules = _blocks(hcl, "resource", "aws_vpc_security_group_ingress_rule")
    into_db = [
        r for r in rules.values() if r["security_group_id"] == "${aws_security_group.database.id}"
    ]
    assert sorted(r["referenced_security_group_id"] for r in into_db) == [
        "${aws_security_group.dashboard.id}",
        "${aws_security_group.glue.id}",
        "${aws_security_group.ops.id}",
    ]
    assert all("cidr_ipv4" not in r for r in rules.values())
    assert all("${each" not in r["security_group_id"] for r in rules.values())  # all named


def test_the_operations_task_reaches_the_store_and_the_database_from_inside_the_vpc(hcl):
    """Finding 6: nothing could reach both the cache and the database, so the rebuild could
    not run on AWS. The operations function can, and only it besides the API (the store)
    and the job and the dashboard (the database)."""
    ops = _resource(hcl, "aws_lambda_function", "ops")
    assert ops["handler"] == "fraudit.ops.handler.handle"
    assert ops["reserved_concurrent_executions"] == 1  # one operation at a time
    assert _one(ops, "vpc_config")["security_group_ids"] == ["${aws_security_group.ops.id}"]
    env = _one(ops, "environment")["variables"]
    assert env["FRAUDIT_REDIS_IAM_USER"] == "${aws_elasticache_user.ops.user_id}"
    assert env["FRAUDIT_DATABASE_SECRET_ID"] == "${local.db_secret_arn}"
    assert env["FRAUDIT_REDIS_CLUSTER"] == "true"
    group = _resource(hcl, "aws_elasticache_user_group", "online")
    assert "${aws_elasticache_user.ops.user_id}" in group["user_ids"]
    user = _resource(hcl, "aws_elasticache_user", "ops")
    assert _one(user, "authentication_mode")["type"] == "iam"
    assert user["access_string"] == "${local.online_store_access_string}"
    statements = _blocks(hcl, "data", "aws_iam_policy_document")["ops"]["statement"]
    by_sid = {s["sid"]: s for s in statements}
    assert by_sid["ConnectToTheOnlineStoreAsItsUser"]["resources"] == [
        "${aws_elasticache_serverless_cache.online.arn}",
        "${aws_elasticache_user.ops.arn}",
    ]
    assert by_sid["ReadTheDatabaseSecret"]["resources"] == ["${local.db_secret_arn}"]
    rules = _blocks(hcl, "resource", "aws_vpc_security_group_ingress_rule")
    into_store = sorted(
        r["referenced_security_group_id"]
        for r in rules.values()
        if r["security_group_id"] == "${aws_security_group.online_store.id}"
    )
    assert into_store == ["${aws_security_group.api.id}", "${aws_security_group.ops.id}"]
    reaches = _locals(hcl, "ops_reaches")
    assert {k: (v["from"], v["to"]) for k, v in reaches.items()} == {
        "database": (5432, 5432),
        "online_store": (6379, 6380),
        "endpoints": (443, 443),
    }


def test_the_operations_task_reaps_unfinished_attempts_on_a_schedule(hcl):
    """Finding 3: a request killed between BEGIN and its answer left its count for good.
    The reaper runs in the operations task every `reap_schedule`; a run that finds the one
    concurrent slot taken is dropped (the next does its work), never queued for hours."""
    rule = _resource(hcl, "aws_cloudwatch_event_rule", "reap")
    assert rule["schedule_expression"] == "${var.reap_schedule}"
    target = _resource(hcl, "aws_cloudwatch_event_target", "reap")
    assert target["arn"] == "${aws_lambda_function.ops[0].arn}"
    assert '"features-reap"' in target["input"]
    allowed = _resource(hcl, "aws_lambda_permission", "reap")
    assert allowed["principal"] == "events.amazonaws.com"
    assert allowed["source_arn"] == "${aws_cloudwatch_event_rule.reap[0].arn}"
    invoke = _resource(hcl, "aws_lambda_function_event_invoke_config", "ops")
    assert invoke["maximum_retry_attempts"] == 0
    assert invoke["maximum_event_age_in_seconds"] < 300  # within one schedule period
    assert _blocks(hcl, "variable", "reap_schedule")


def test_alarms_cover_stream_lag_api_failures_and_glue_failures(hcl):
    alarms = _blocks(hcl, "resource", "aws_cloudwatch_metric_alarm")
    metrics = {a["metric_name"] for a in alarms.values()}
    assert "GetRecords.IteratorAgeMilliseconds" in metrics
    assert "glue.driver.aggregate.numFailedTasks" in metrics
    api = alarms["api"]
    assert "Errors" in api["metric_name"]
    assert "Throttles" in api["metric_name"]
    rule = _resource(hcl, "aws_cloudwatch_event_rule", "glue_job_state")
    assert "FAILED" in rule["event_pattern"]
    assert "Glue Job State Change" in rule["event_pattern"]


def test_the_api_reaches_the_online_store_with_iam_and_no_password(hcl):
    """Main had no AUTH at all (a CKV_AWS_31 skip): the security group was the only fence.
    Now the API connects as an ElastiCache user whose authentication mode is IAM, with a
    token its role signs; the default user is off; no password exists."""
    cache = _resource(hcl, "aws_elasticache_serverless_cache", "online")
    assert cache["user_group_id"] == "${aws_elasticache_user_group.online.user_group_id}"
    group = _resource(hcl, "aws_elasticache_user_group", "online")
    assert group["user_ids"] == [
        "${aws_elasticache_user.default_off.user_id}",
        "${aws_elasticache_user.api.user_id}",
        "${aws_elasticache_user.ops.user_id}",
    ]
    api, default = (_resource(hcl, "aws_elasticache_user", n) for n in ("api", "default_off"))
    assert _one(api, "authentication_mode")["type"] == "iam"
    assert api["user_name"] == api["user_id"]  # IAM authentication requires it
    assert "passwords" not in api
    assert (default["user_name"], default["access_string"]) == ("default", "off -@all")
    access = online_store_access_string()  # the integration layer applies it to an ACL user
    namespace = StoreKeys(Settings().redis_key_prefix).namespace
    assert f"~{namespace}* " in access  # its own keys only
    assert "-@admin" in access
    assert "-@dangerous" in access
    env = _one(_resource(hcl, "aws_lambda_function", "api"), "environment")["variables"]
    assert env["FRAUDIT_REDIS_IAM_USER"] == "${aws_elasticache_user.api.user_id}"
    assert env["FRAUDIT_REDIS_IAM_CACHE_NAME"] == "${aws_elasticache_serverless_cache.online.name}"
    assert env["FRAUDIT_REDIS_KEY_PREFIX"] == "${local.online_store_key_prefix}"
    assert env["FRAUDIT_REDIS_CLUSTER"] == "true"  # Serverless runs in cluster mode only
    statements = _blocks(hcl, "data", "aws_iam_policy_document")["api"]["statement"]
    connect = {s["sid"]: s for s in statements}["ConnectToTheOnlineStoreAsItsUser"]
    assert connect["actions"] == ["elasticache:Connect"]
    assert connect["resources"] == [
        "${aws_elasticache_serverless_cache.online.arn}",
        "${aws_elasticache_user.api.arn}",
    ]
    source = (REPO / "devops" / "infra" / "online_store.tf").read_text()
    assert "CKV_AWS_31" not in source


def test_the_online_store_is_never_full_or_throttled_silently(hcl):
    """ElastiCache Serverless evicts keys with a TTL at its storage ceiling and cannot be
    told not to: main had no alarm, so features went wrong without an error (finding 5)."""
    cache = _resource(hcl, "aws_elasticache_serverless_cache", "online")
    limits = _one(cache, "cache_usage_limits")
    assert _one(limits, "data_storage")["maximum"] == "${var.online_store_max_gb}"
    ecpu = _one(limits, "ecpu_per_second")["maximum"]
    assert ecpu == "${var.online_store_max_ecpu_per_second}"
    alarm = _resource(hcl, "aws_cloudwatch_metric_alarm", "online_store")
    assert alarm["dimensions"] == {"clusterId": "${aws_elasticache_serverless_cache.online.name}"}
    assert alarm["comparison_operator"] == "GreaterThanThreshold"
    assert alarm["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"]
    (local_block,) = [b for b in hcl["locals"] if "online_store_alarms" in b]
    watched = {
        spec["metric"]: str(spec["threshold"])
        for spec in local_block["online_store_alarms"].values()
    }
    assert watched["Evictions"] == "0"
    assert watched["ThrottledCmds"] == "0"
    assert "0.8 * var.online_store_max_gb * 1000000000" in watched["BytesUsedForCache"]


def test_sagemaker_endpoints_pin_the_images_and_offer_serverless(hcl):
    images = _blocks(hcl, "data", "aws_sagemaker_prebuilt_ecr_image")
    assert images["xgboost"]["repository_name"] == "sagemaker-xgboost"
    assert _blocks(hcl, "variable", "xgboost_image_tag")["default"] == "3.0-5"
    config = _resource(hcl, "aws_sagemaker_endpoint_configuration", "model")
    variant = _one(config, "production_variants")
    assert "serverless_config" in str(variant.get("dynamic"))
    model = _resource(hcl, "aws_sagemaker_model", "model")
    assert model["enable_network_isolation"] is True


def test_outputs_map_onto_env_keys_and_the_deploy_tool(hcl):
    fields = set(setting_variables())
    names = {name for block in hcl["output"] for name in block}
    upper = {n for n in names if n.isupper()}
    assert upper <= fields, upper - fields
    assert {
        "FRAUDIT_STREAM_NAME",
        "FRAUDIT_CLASSIFIER_ENDPOINT",
        "FRAUDIT_ANOMALY_ENDPOINT",
        "FRAUDIT_POLICY_S3_URI",
        "FRAUDIT_DATABASE_SECRET_ID",
    } <= upper
    from fraudit.deploy.outputs import StackOutputs

    required = {n for n, f in StackOutputs.model_fields.items() if f.is_required()}
    assert required <= names, required - names


def _locals(hcl, name: str) -> Any:
    (block,) = [b for b in hcl["locals"] if name in b]
    return block[name]


def test_the_api_key_lives_only_in_its_secret(hcl):
    """Main: Terraform created the API Gateway key (its value in the state) and wired no key
    secret into the Lambda, which then served without a key check of its own."""
    kinds = {kind for block in hcl["resource"] for kind in block}
    assert "aws_api_gateway_api_key" not in kinds
    assert "aws_secretsmanager_secret_version" not in kinds  # a version would hold the value
    secret = _resource(hcl, "aws_secretsmanager_secret", "api_key")
    assert secret["kms_key_id"] == "${aws_kms_key.main.arn}"
    env = _one(_resource(hcl, "aws_lambda_function", "api"), "environment")["variables"]
    assert env["FRAUDIT_API_KEY_SECRET_ID"] == "${aws_secretsmanager_secret.api_key[0].arn}"
    policy = json.dumps(_blocks(hcl, "data", "aws_iam_policy_document")["api"])
    assert "ReadTheApiKey" in policy
    assert "secretsmanager:GetSecretValue" in policy
    for method in _blocks(hcl, "resource", "aws_api_gateway_method").values():
        assert method["api_key_required"] is True


def test_the_deadline_fits_inside_the_lambda_timeout_and_one_attempt_of_each_call_fits(hcl):
    """Main: a 10 s Lambda around 2 model attempts and 5 Kinesis attempts of 3 s each plus
    backoff, so API Gateway could answer a bare 5xx after the event was on the stream."""
    timeout = _locals(hcl, "api_lambda_timeout_seconds")
    deadline = _locals(hcl, "api_deadline_seconds")
    function = _resource(hcl, "aws_lambda_function", "api")
    assert function["timeout"] == "${local.api_lambda_timeout_seconds}"
    env = _one(function, "environment")["variables"]
    assert env["FRAUDIT_API_DEADLINE_SECONDS"] == "${tostring(local.api_deadline_seconds)}"

    chalice = json.loads((REPO / "app" / "chalice" / ".chalice" / "config.json").read_text())
    assert chalice["lambda_timeout"] == timeout
    chalice_env = {
        k.removeprefix("FRAUDIT_").lower(): v for k, v in chalice["environment_variables"].items()
    }
    settings = Settings(_env_file=None, **chalice_env)
    assert settings.api_deadline_seconds == deadline  # the default, which Chalice stacks use
    assert deadline + LAMBDA_ANSWER_MARGIN_SECONDS < timeout
    # Retries stop at the deadline; a deadline shorter than one attempt of each call would
    # turn every slow-but-healthy request into a 503.
    one_model_call = settings.sagemaker_connect_timeout + settings.sagemaker_read_timeout
    one_put = settings.kinesis_connect_timeout + settings.kinesis_read_timeout
    # The online store: one round trip to begin, one to finish.
    store = 2 * settings.redis_timeout_seconds
    assert one_model_call + one_put + store <= deadline


def test_the_api_reaches_its_online_store_inside_the_vpc_only(hcl):
    """Redis became a required part of the API: the stack gives the Lambda a Valkey cache
    that only it and the operations task can reach, over TLS, and the endpoints a Lambda in
    private subnets needs."""
    cache = _resource(hcl, "aws_elasticache_serverless_cache", "online")
    assert cache["engine"] == "valkey"
    assert cache["kms_key_id"] == "${aws_kms_key.main.arn}"
    assert cache["security_group_ids"] == ["${aws_security_group.online_store.id}"]
    function = _resource(hcl, "aws_lambda_function", "api")
    vpc = _one(function, "vpc_config")
    assert vpc["security_group_ids"] == ["${aws_security_group.api.id}"]
    env = _one(function, "environment")["variables"]
    assert env["FRAUDIT_REDIS_URL"] == "${local.online_store_url}"
    (url_block,) = [b for b in hcl["locals"] if "online_store_url" in b]
    assert url_block["online_store_url"].startswith("rediss://")  # TLS in transit
    ingress = _blocks(hcl, "resource", "aws_vpc_security_group_ingress_rule")
    into_cache = [r for r in ingress.values() if "online_store.id" in r["security_group_id"]]
    assert sorted(r["referenced_security_group_id"] for r in into_cache) == [
        "${aws_security_group.api.id}",
        "${aws_security_group.ops.id}",
    ]
    (local_block,) = [b for b in hcl["locals"] if "interface_endpoints" in b]
    services = set(re.findall(r'"([a-z.-]+)"', local_block["interface_endpoints"]))
    assert {"sagemaker.runtime", "kinesis-streams", "secretsmanager", "xray"} <= services
    api = {s["sid"]: s for s in _blocks(hcl, "data", "aws_iam_policy_document")["api"]["statement"]}
    assert len(api["InvokeTheCardModelEndpoints"]["resources"]) == 2
    assert env["FRAUDIT_CARD_POLICY_S3_URI"].endswith("${local.card_policy_key}")


def test_object_keys_agree_with_the_deploy_tool(hcl):
    (local_block,) = [b for b in hcl["locals"] if "glue_script_key" in b]
    assert local_block["glue_script_key"] == commands.GLUE_SCRIPT_KEY
    assert local_block["glue_backtest_key"] == commands.GLUE_BACKTEST_SCRIPT_KEY
    assert local_block["glue_wheelhouse_key"] == commands.GLUE_WHEELHOUSE_KEY
    assert local_block["dashboard_wheels"] == commands.DASHBOARD_WHEELHOUSE_KEY
    assert local_block["policy_key"] == ULB.policy_key
    assert local_block["card_policy_key"] == CARDS.policy_key


def test_each_familys_candidate_in_shadow_gets_its_endpoints_policy_and_permissions(hcl):
    """The Lambda finds each family's candidate where `fraudit deploy upload --shadow` puts
    it and the settings read it: its version variable, its endpoints, its policy key."""
    (keys,) = [b for b in hcl["locals"] if "glue_script_key" in b]
    env = _one(_resource(hcl, "aws_lambda_function", "api"), "environment")["variables"]
    variables = {name for block in hcl["variable"] for name in block}
    api = {s["sid"]: s for s in _blocks(hcl, "data", "aws_iam_policy_document")["api"]["statement"]}
    read = set(api["ReadTheDecisionPolicy"]["resources"])
    invoke = set(api["InvokeTheCandidatesInShadow"]["resources"])
    for family in (ULB, CARDS):
        key_local = f"{family.settings_prefix}shadow_policy_key"
        assert keys[key_local] == family.shadow_policy_key
        assert family.shadow_version_variable in variables
        assert env[family.variable("shadow_model_version")] == (
            f"${{var.{family.shadow_version_variable}}}"
        )
        assert env[family.variable("shadow_policy_s3_uri")].endswith(f"${{local.{key_local}}}")
        assert f"${{local.artifacts_arn}}/${{local.{key_local}}}" in read
        for role in ("classifier", "anomaly"):
            endpoint = env[family.variable(f"shadow_{role}_endpoint")]
            assert f"${{local.endpoint_arn_base}}/{endpoint}" in invoke
    assert all(name in setting_variables() for name in env)


def test_api_gateway_has_one_resource_per_chalice_route(hcl):
    from fraudit.api.app import create_app

    (local_block,) = [b for b in hcl["locals"] if "api_routes" in b]
    routes = local_block["api_routes"]
    terraform_routes = {(f"/{path}", spec["method"]) for path, spec in routes.items()}
    app = create_app()
    chalice_routes = {(path, method) for path, entries in app.routes.items() for method in entries}
    assert terraform_routes == chalice_routes


def test_variables_are_described_and_constrained(hcl):
    variables = {name: spec for block in hcl["variable"] for name, spec in block.items()}
    assert all(spec.get("description") for spec in variables.values())
    for name in (
        "environment",
        "stream_mode",
        "glue_version",
        "glue_worker_type",
        "db_engine_version",
        "endpoints_managed_by",
        "serverless_memory_mb",
    ):
        assert "validation" in variables[name], name


def test_every_checkov_skip_is_justified():
    skips = [
        line.strip() for p in FILES for line in p.read_text().splitlines() if "checkov:skip" in line
    ]
    assert skips
    for line in skips:
        assert re.fullmatch(r"#checkov:skip=CKV2?_AWS_\d+:.{25,}", line), line
