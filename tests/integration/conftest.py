from __future__ import annotations

import pytest

from tests.support.processes import fraudit_process, free_port, stop, wait_for_http


@pytest.fixture(scope="session")
def model_server(serving_root, tmp_path_factory):
    """`fraudit serve-models` as a real process on a free loopback port: both families."""
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / "model-server.log"
    process = fraudit_process(
        ["serve-models", "--model-dir", str(serving_root), "--port", str(port)],
        {"FRAUDIT_MODEL_SERVER_MAX_BODY_BYTES": "1000000"},
        log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/ping", process)
        yield url
    finally:
        stop(process)


# How often the session's API checks its ruleset file (tests/integration/test_rules_store.py).
RULESET_REFRESH_SECONDS = 1


@pytest.fixture(scope="session")
def ruleset_file(tmp_path_factory):
    """Where the session's API reads its published ruleset: nothing there at first."""
    return tmp_path_factory.mktemp("rules") / "ruleset.json"


@pytest.fixture(scope="session")
def api_server(model_server, kinesis_emulator, serving_root, ruleset_file, tmp_path_factory):
    """`fraudit api` with 2 worker processes, talking to the model server (both families)
    and kinesalite through the AWS_ENDPOINT_URL_* variables only: the same code as on
    AWS."""
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / "api.log"
    env = {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": model_server,
        "AWS_ENDPOINT_URL_KINESIS": kinesis_emulator.url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "FRAUDIT_MODEL_DIR": str(serving_root),
        "FRAUDIT_STREAM_NAME": "fraud-predictions",
        "FRAUDIT_RULESET_URI": str(ruleset_file),
        "FRAUDIT_RULESET_REFRESH_SECONDS": str(RULESET_REFRESH_SECONDS),
    }
    from tests.support.redis_keys import own_prefix  # redis-py: not in the Glue test venv

    with own_prefix() as prefix:
        env["FRAUDIT_REDIS_KEY_PREFIX"] = prefix
        process = fraudit_process(["api", "--port", str(port), "--workers", "2"], env, log)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{url}/health", process)
            yield url
        finally:
            stop(process)
