"""The long-running `fraudit` commands with children stop all of them on SIGTERM (docker
stop, systemd, kill) and on Ctrl-C (SIGINT). Main: `fraudit kinesis-emulator` stopped with
SIGTERM left its kinesalite child running, in a session of its own where no terminal
signal reaches it.

`fraudit demo` and `fraudit stream` are stopped with Ctrl-C and `fraudit dashboard` with
SIGTERM in the e2e tests; every command's SIGTERM becomes the same KeyboardInterrupt clean-up
in `fraudit.cli.main`, which the commands here exercise with both signals."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import psutil
import pytest

from tests.support.processes import fraudit_process, free_port

pytestmark = pytest.mark.integration


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode} before listening"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listened on {port} within {timeout} s")


def descendants_after_signal(
    process: subprocess.Popen, signum: int, expected_children: int
) -> list[psutil.Process]:
    """Signal the command once it has its children; return whichever of its descendants
    outlived it."""
    children = _children_once_started(process, expected_children)
    process.send_signal(signum)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"the command ignored signal {signum} for 30 s") from None
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:  # do not leak them into the rest of the session
        child.kill()
    # A zombie has stopped; it waits only for a reaper (PID 1 in some containers is none).
    return [child for child in alive if _status(child) != psutil.STATUS_ZOMBIE]


def _children_once_started(
    process: subprocess.Popen, expected: int, timeout: float = 30.0
) -> list[psutil.Process]:
    """The port listens before the children exist: `fraudit api` binds in the parent, then
    forks its workers (CI once signalled it between the two and found no child)."""
    deadline = time.monotonic() + timeout
    while True:
        children = psutil.Process(process.pid).children(recursive=True)
        if len(children) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(children) >= expected, children
    return children


def _status(process: psutil.Process) -> str:
    try:
        return str(process.status())
    except psutil.NoSuchProcess:
        return psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_kinesis_emulator_stops_kinesalite(signum, tmp_path):
    port = free_port()
    process = fraudit_process(
        ["kinesis-emulator", "--port", str(port), "--home", str(_node_home())],
        {},
        tmp_path / "emulator.log",
    )
    wait_for_port(port, process)
    # Also mid start-up (the stream being created): main left kinesalite running then too.
    assert descendants_after_signal(process, signum, expected_children=1) == []
    # Main under load: 1 run in ~40 lost the signal (raised inside an import, where CPython
    # drops it: "the command ignored signal 15 for 30 s") and ~1 in 35 exited -2 (a
    # KeyboardInterrupt caught after passing through exec()); fraudit.local.stop_request.
    assert process.returncode == 0, (tmp_path / "emulator.log").read_text()


def test_kinesalite_stops_when_its_command_is_killed(tmp_path):
    """Main: a `fraudit kinesis-emulator` killed with SIGKILL left kinesalite serving,
    re-parented to PID 1, in a session where no terminal signal reaches it."""
    port = free_port()
    process = fraudit_process(
        ["kinesis-emulator", "--port", str(port), "--home", str(_node_home())],
        {},
        tmp_path / "emulator.log",
    )
    wait_for_port(port, process)
    (node,) = psutil.Process(process.pid).children(recursive=True)
    process.kill()
    process.wait()
    _, alive = psutil.wait_procs([node], timeout=10)
    for child in alive:
        child.kill()
    assert [child for child in alive if _status(child) != psutil.STATUS_ZOMBIE] == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_api_stops_its_workers(signum, model_server, model_root, tmp_path):
    port = free_port()
    env = {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": model_server,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "FRAUDIT_MODEL_DIR": str(model_root),
    }
    process = fraudit_process(
        ["api", "--port", str(port), "--workers", "2"], env, tmp_path / "api.log"
    )
    wait_for_port(port, process)
    assert descendants_after_signal(process, signum, expected_children=2) == []
    assert process.returncode == 0, (tmp_path / "api.log").read_text()


def test_serve_models_exits_on_sigterm(trained, model_root, tmp_path):
    port = free_port()
    process = fraudit_process(
        ["serve-models", "--model-dir", str(model_root), "--port", str(port)],
        {},
        tmp_path / "models.log",
    )
    wait_for_port(port, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, (tmp_path / "models.log").read_text()


def _node_home():
    from tests.conftest import REPO

    return REPO / ".fraudit" / "node"
