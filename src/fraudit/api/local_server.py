"""`fraudit api`: the same Chalice app object on a real threaded HTTP server.

Stock `chalice local` stalls ~44 ms per keep-alive request (no TCP_NODELAY) and drops
connections past a listen backlog of 5. This server sets TCP_NODELAY, a backlog of 128,
HTTP/1.1 keep-alive, the guards of fraudit.http_server (bounded threads, socket
timeouts, lengths checked before reading), and can pre-fork worker processes that share one
listening socket (each builds its own service and clients after the fork).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from chalice import Chalice
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException

from fraudit.http_server import BoundedThreadingHTTPServer, GuardedRequestHandler

log = logging.getLogger("fraudit.api.server")


class ApiHTTPServer(BoundedThreadingHTTPServer):
    def __init__(
        self,
        address: tuple[str, int],
        gateway: LocalGateway | None = None,
        *,
        max_body_bytes: int = 1_048_576,
        bind_and_activate: bool = True,
    ) -> None:
        self.gateway = gateway
        # Each route's methods, for the Allow header of a 405 the gateway never sees.
        self.route_methods: dict[str, set[str]] = {}
        self.max_body_bytes = max_body_bytes
        super().__init__(address, ApiRequestHandler, bind_and_activate=bind_and_activate)


class ApiRequestHandler(GuardedRequestHandler):
    server: ApiHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return None  # the app writes one structured line per request

    def _send(self, status: int, headers: dict[str, Any], body: bytes | str | None) -> None:
        data = body.encode() if isinstance(body, str) else (body or b"")
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def refuse(
        self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None
    ) -> None:
        code = re.sub(r"[^a-z]+", "_", status.phrase.lower()).strip("_")
        body = json.dumps({"error": code, "message": message})
        self._send(status, {"Content-Type": "application/json", **(headers or {})}, body)

    def allowed_methods(self) -> list[str]:
        methods = self.server.route_methods.get(urlsplit(self.path).path)
        return sorted(methods) if methods else super().allowed_methods()

    def _handle(self) -> None:
        body = self.read_body(self.server.max_body_bytes)
        if body is None:
            return
        assert self.server.gateway is not None
        try:
            response = self.server.gateway.handle_request(
                method=self.command, path=self.path, headers=dict(self.headers), body=body or None
            )
        except LocalGatewayException as exc:
            self._send(exc.CODE, dict(exc.headers), exc.body)
            return
        headers = dict(response["headers"])
        for key, values in response.get("multiValueHeaders", {}).items():
            headers[key] = ",".join(values)
        self._send(response["statusCode"], headers, response["body"])

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


def gateway_for(app: Chalice) -> LocalGateway:
    return LocalGateway(app, Config.create(chalice_app=app, app_name=app.app_name))


def _install(server: ApiHTTPServer, app: Chalice) -> None:
    server.gateway = gateway_for(app)
    server.route_methods = {path: set(entries) for path, entries in app.routes.items()}


def _serve_in_this_process(
    server: ApiHTTPServer,
    app_factory: Callable[[], Chalice],
    url: str,
    ready: Callable[[str], None] | None,
) -> int:
    _install(server, app_factory())
    if ready:
        ready(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# Signals that stop the server: blocked across fork() so that neither process runs the
# other's handler, and so a child is never interrupted before it has its own.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
# Seconds the workers get to finish in-flight requests before they are killed.
STOP_GRACE_SECONDS = 10.0


def _fork_worker(server: ApiHTTPServer, app_factory: Callable[[], Chalice]) -> int:
    """A child serving the shared socket until SIGTERM; returns its pid to the parent."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(_worker(server, app_factory, mask))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return pid


def _worker(server: ApiHTTPServer, app_factory: Callable[[], Chalice], mask: Any) -> int:
    """The child's whole life, as an exit code. SIGTERM asks serve_forever to return (from
    another thread, as socketserver requires) instead of raising wherever the signal lands:
    an exception raised inside the accept loop can be caught and logged by socketserver."""
    try:
        signal.signal(signal.SIGTERM, lambda *_: _request_shutdown(server))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _install(server, app_factory())
        # Every worker wakes for each connection on the shared socket; the ones that lose
        # the race must not block in accept(), where a stop request would go unseen.
        server.socket.setblocking(False)
        server.serve_forever()
        return 0
    except BaseException:
        log.exception("worker crashed")
        return 1
    finally:
        server.server_close()


def _request_shutdown(server: ApiHTTPServer) -> None:
    # shutdown() waits for serve_forever to notice, so it cannot run on the loop's thread;
    # called before serve_forever starts, the loop returns at once.
    threading.Thread(target=server.shutdown, daemon=True).start()


def _supervise(children: list[int]) -> int:
    """Until Ctrl-C or SIGTERM (0) or a worker's death (1)."""
    try:
        while children:
            pid, status = os.wait()
            if pid in children:
                children.remove(pid)
                log.error("worker %d exited (%s); stopping", pid, status)
                return 1
        return 0
    except KeyboardInterrupt:
        return 0


def _stop_workers(children: list[int], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM every worker, wait up to `grace` seconds, then SIGKILL whichever remains.
    A second Ctrl-C or SIGTERM meanwhile is held back rather than cutting the clean-up."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        waiting = set(children)
        deadline = time.monotonic() + grace
        while waiting and time.monotonic() < deadline:
            waiting -= {pid for pid in waiting if _reaped(pid)}
            if waiting:
                time.sleep(0.02)
        for pid in waiting:
            log.error("worker %d ignored SIGTERM for %.0f s; killing it", pid, grace)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True  # already reaped


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(
    app_factory: Callable[[], Chalice],
    host: str,
    port: int,
    workers: int = 1,
    ready: Callable[[str], None] | None = None,
    *,
    max_body_bytes: int = 1_048_576,
) -> int:
    """Bind once, fork `workers` processes serving the shared socket; Ctrl-C or SIGTERM
    stops them all. Returns an exit code."""
    # Bind in the parent: a taken port fails here.
    server = ApiHTTPServer((host, port), max_body_bytes=max_body_bytes)
    url = f"http://{host}:{server.server_address[1]}"
    if workers == 1:
        return _serve_in_this_process(server, app_factory, url, ready)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    children: list[int] = []
    try:
        for _ in range(workers):
            children.append(_fork_worker(server, app_factory))
        server.socket.close()  # the parent only supervises
        if ready:
            ready(url)
        return _supervise(children)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_workers(children)
        signal.signal(signal.SIGTERM, previous)
