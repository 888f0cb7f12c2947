"""The demo's plan (pure) and its refusal of taken ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fraudit.local.demo import Demo, DemoConfig, DemoError, plan, taken_ports

pytestmark = pytest.mark.unit


def test_the_plan_wires_every_process_to_the_same_endpoints():
    config = DemoConfig(home=Path("/tmp/d"), model_port=1, api_port=2, dashboard_port=4)
    services = {s.name: s for s in plan(config, "postgresql://db", "http://127.0.0.1:3")}
    # The live card simulator first: it seeds the store while the others start.
    assert list(services) == ["simulator", "model-server", "api", "stream", "dashboard"]
    api, stream = services["api"], services["stream"]
    assert api.env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == "http://127.0.0.1:1"
    assert api.env["AWS_ENDPOINT_URL_KINESIS"] == "http://127.0.0.1:3"
    assert stream.env["DATABASE_URL"] == services["dashboard"].env["DATABASE_URL"]
    assert "--checkpoint-dir" in stream.args
    assert "/tmp/d/checkpoints/elt" in stream.args
    assert services["simulator"].args[:3] == ["simulate", "--url", "http://127.0.0.1:2"]
    live = services["simulator"]
    assert "--resume" not in live.args  # live traffic starts from its own start
    assert live.args[live.args.index("--dataset") + 1] == "cards"
    assert "--data" not in live.args  # live traffic, not a replayed file
    assert live.env["FRAUDIT_REDIS_KEY_PREFIX"] == api.env["FRAUDIT_REDIS_KEY_PREFIX"]
    assert live.env["FRAUDIT_REDIS_URL"] == api.env["FRAUDIT_REDIS_URL"]
    ulb = {s.name: s for s in plan(DemoConfig(dataset="ulb"), "postgresql://db", "http://k")}
    assert list(ulb)[-1] == "simulator"
    assert ulb["simulator"].args[ulb["simulator"].args.index("--rate") + 1] == "5.0"
    assert all(s.ready_url or s.ready_log or s.name == "simulator" for s in services.values())
    quiet = plan(DemoConfig(simulator=False), "postgresql://db", "http://k")
    assert "simulator" not in {s.name for s in quiet}
    # The soak's pipeline: no dashboard, so its port is neither needed nor checked.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        headless = DemoConfig(
            simulator=False,
            dashboard=False,
            dashboard_port=port,
            model_port=0,
            api_port=0,
            kinesis_port=0,
        )
        assert [s.name for s in plan(headless, "postgresql://db", "http://k")] == [
            "model-server",
            "api",
            "stream",
        ]
        assert taken_ports(headless) == []
        assert taken_ports(
            DemoConfig(dashboard_port=port, model_port=0, api_port=0, kinesis_port=0)
        ) == [("dashboard", port)]


def test_a_taken_port_is_named_before_anything_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = DemoConfig(
            home=tmp_path, api_port=port, model_port=0, kinesis_port=0, dashboard_port=0
        )
        assert taken_ports(config) == [("API", port)]
        with pytest.raises(DemoError, match=f"already in use: API port {port}"):
            Demo(config, say=lambda _: None).start(train=lambda _: 0)


def test_free_ports_are_distinct_ports_nothing_listens_on():
    """Picked one by one, four ports once came back with two equal (the demo's model server
    and Kinesis emulator collided in CI); picked together they cannot."""
    import socket

    from fraudit.local.demo import free_ports

    ports = free_ports(64)
    assert len(set(ports)) == 64
    for port in ports[:4]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # still free
