from __future__ import annotations

import pytest

from tests.helpers import fraudit_process, free_port, stop, wait_for_http


@pytest.fixture(scope="session")
def model_server(trained, model_root, tmp_path_factory):
    """`fraudit serve-models` as a real process on a free loopback port."""
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / "model-server.log"
    process = fraudit_process(["serve-models", "--model-dir", str(model_root), "--port",
                               str(port)], {"FRAUDIT_MODEL_SERVER_MAX_BODY_BYTES": "1000000"},
                              log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/ping", process)
        yield url
    finally:
        stop(process)
