"""The deploy tool's pure planning: what to do from what is wanted and what is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudit.deploy.plan import (
    Artifact,
    EndpointSpec,
    EndpointState,
    OwnershipError,
    gateway_key_name,
    plan_api_key,
    plan_endpoint,
    plan_file,
    plan_glue,
    plan_uploads,
)

pytestmark = pytest.mark.unit


def test_uploads_skip_identical_objects_and_say_why_others_go():
    wanted = [
        Artifact(Path("a"), "k/a", "1" * 64),
        Artifact(Path("b"), "k/b", "2" * 64),
        Artifact(Path("c"), "k/c", "3" * 64),
    ]
    actions = plan_uploads(wanted, "bucket", {"k/a": "1" * 64, "k/b": "f" * 64, "k/c": None})
    assert [(a.target, a.reason) for a in actions] == [
        ("s3://bucket/k/b", "changed"),
        ("s3://bucket/k/c", "missing"),
    ]


SPEC = EndpointSpec(
    endpoint="fraudit-dev-classifier",
    model_version="v1",
    image_uri="img",
    model_data_url="s3://b/models/v1/classifier/model.tar.gz",
    role_arn="arn:aws:iam::1:role/r",
    environment={},
    kms_key_arn="k",
)


def test_endpoint_plans_create_switch_and_nothing():
    fresh = plan_endpoint(SPEC, EndpointState(False, False, None))
    assert [a.kind for a in fresh] == ["create_model", "create_endpoint_config", "create_endpoint"]
    name = SPEC.resource_name
    assert name.startswith("fraudit-dev-classifier-")
    assert len(name) == len(SPEC.endpoint) + 9
    switch = plan_endpoint(SPEC, EndpointState(False, False, "fraudit-dev-classifier-old"))
    assert [a.kind for a in switch][-1] == "update_endpoint"
    assert switch[-1].params["config"] == name
    assert plan_endpoint(SPEC, EndpointState(True, True, name)) == []
    with pytest.raises(OwnershipError):
        plan_endpoint(SPEC, EndpointState(True, True, name, managed_by="terraform"))


def test_versions_get_distinct_names():
    other = EndpointSpec(**{**SPEC.__dict__, "model_version": "v2"})
    assert other.resource_name != SPEC.resource_name


def test_glue_start_only_without_an_active_run_and_stop_every_active_one():
    assert [a.kind for a in plan_glue("start", "job", {})] == ["start_job"]
    assert plan_glue("start", "job", {"jr_1": "RUNNING"}) == []
    assert [a.kind for a in plan_glue("start", "job", {"jr_1": "FAILED"})] == ["start_job"]
    stops = plan_glue("stop", "job", {"jr_2": "STARTING", "jr_1": "RUNNING", "jr_0": "SUCCEEDED"})
    assert [a.params["run_id"] for a in stops] == ["jr_1", "jr_2"]


def test_file_written_only_when_its_text_changes(tmp_path):
    path = tmp_path / ".env"
    assert [a.reason for a in plan_file(path, "A=1\n", None)] == ["missing"]
    assert [a.reason for a in plan_file(path, "A=1\n", "A=0\n")] == ["changed"]
    assert plan_file(path, "A=1\n", "A=1\n") == []


def test_the_glue_wheel_list_holds_everything_the_job_needs_beyond_glue():
    """GLUE_PACKAGES is downloaded without dependency resolution (Glue brings its own
    boto3 and Spark): walk the real dependency tree of what the job imports and require
    every package Glue lacks to be on the list."""
    import re
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    from fraudit.deploy.build import GLUE_PACKAGES

    glue_provides = {
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "urllib3",
        "python-dateutil",
        "six",
    }

    def norm(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    needed, todo = set(), ["fraudit", "psycopg", "psycopg-binary"]
    while todo:
        name = todo.pop()
        for line in requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            dep = norm(requirement.name)
            if dep not in needed and dep not in glue_provides:
                needed.add(dep)
                todo.append(dep)
    needed |= {"psycopg", "psycopg-binary"}
    assert needed <= set(GLUE_PACKAGES), needed - set(GLUE_PACKAGES)


def test_api_key_plan_fills_an_empty_secret_and_keeps_one_gateway_key():
    key = "k" * 40
    ours = gateway_key_name("fraudit-dev-api", key)
    fresh = plan_api_key("fraudit-dev-api", "up1", None, {}, rotate=False)
    assert [a.kind for a in fresh] == ["put_api_key_secret", "create_gateway_key"]
    settled = {ours: "id1", "someone-elses-key": "id9"}
    assert plan_api_key("fraudit-dev-api", "up1", key, settled, rotate=False) == []
    stale = {"fraudit-dev-api-0123456789ab": "id0", "someone-elses-key": "id9"}
    moved = plan_api_key("fraudit-dev-api", "up1", key, stale, rotate=False)
    assert [(a.kind, a.params.get("id")) for a in moved] == [
        ("create_gateway_key", None),
        ("delete_gateway_key", "id0"),
    ]
    rotated = plan_api_key("fraudit-dev-api", "up1", key, settled, rotate=True)
    assert [a.kind for a in rotated] == [
        "put_api_key_secret",
        "create_gateway_key",
        "delete_gateway_key",
    ]
    assert rotated[-1].params["id"] == "id1"  # never the key the stack does not own
    assert all(key not in a.describe() for a in fresh + moved + rotated)
