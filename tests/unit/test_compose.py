"""docker-compose.yml (no Docker engine runs here): it parses, every fraudit command in it
is one the CLI accepts with those very arguments, and its variables are fraudit's."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from fraudit.cli import build_parser
from tests.conftest import REPO
from tests.unit.test_settings import _example_variables

pytestmark = pytest.mark.unit

AWS_VARIABLES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_KINESIS",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
}


def fraudit_commands(command):
    """Every `fraudit ...` argv in a service command (a list, or a `sh -c` script)."""
    if command[0] == "fraudit":
        return [command[1:]]
    script = command[-1]
    return [shlex.split(part)[1:] for part in re.findall(r"fraudit [^;&|]+", script)]


def test_every_service_runs_a_real_fraudit_command():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "kinesis", "models", "api", "stream", "dashboard", "simulator"} <= set(
        services
    )
    parser = build_parser()
    seen = set()
    for name, service in services.items():
        if name == "postgres":
            continue
        for argv in fraudit_commands(service["command"]):
            args = parser.parse_args(argv)  # exits (fails the test) on a bad option
            seen.add(args.command)
    assert {
        "kinesis-emulator",
        "train",
        "serve-models",
        "api",
        "stream",
        "dashboard",
        "simulate",
    } <= seen


def test_the_environment_uses_only_fraudit_variables():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    known = set(_example_variables()) | AWS_VARIABLES
    for name, service in compose["services"].items():
        if name == "postgres":
            continue
        assert set(service["environment"]) <= known, name
    assert "8501" in str(compose["services"]["dashboard"]["ports"])
    assert all(
        p.startswith("127.0.0.1:") for s in compose["services"].values() for p in s.get("ports", [])
    )  # nothing published beyond this machine
    assert (REPO / "Dockerfile").is_file()
