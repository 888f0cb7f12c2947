"""What the local HTTP servers (`fraudit api`, `fraudit serve-models`) share so that no
client can hurt them: a bounded number of worker threads, a socket timeout, a body length
checked before anything is read, chunked bodies refused without desynchronising the
connection, undeclared methods answered 405.

The standard library's server reads whatever Content-Length says, starts a thread per
connection without limit, waits forever on a silent client and answers TRACE with 501.
"""

from __future__ import annotations

import re
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Connections served at once per process; more wait in the listen backlog.
MAX_CONNECTIONS = 64
BACKLOG = 128
# Seconds a connection may stay silent (mid-request or idle between keep-alive requests).
SOCKET_TIMEOUT_SECONDS = 30.0
# Past this many times the limit, a refused body is not read and drained: the connection
# is closed instead.
DISCARD_LIMIT_FACTOR = 4


class _Slot:
    """One connection's share of the bound, given back exactly once: by the thread serving
    it, or by `process_request` when the thread could not be started. An interrupt raised
    inside `Thread.start()` (a stop signal) reaches both; a second release would raise
    ValueError, which socketserver logs as a request error, swallowing the interrupt."""

    def __init__(self, slots: threading.BoundedSemaphore) -> None:
        self._slots = slots
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._slots.release()


class BoundedThreadingHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` at once: the accept loop waits
    for a free slot, so load beyond the bound queues in the kernel's backlog."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        max_connections: int = MAX_CONNECTIONS,
        bind_and_activate: bool = True,
    ) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler, bind_and_activate=bind_and_activate)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        slot = _Slot(self._slots)
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address, slot), daemon=True
        )
        try:
            thread.start()
        except BaseException:
            slot.release()
            raise

    def _serve_connection(self, request: Any, client_address: Any, slot: _Slot) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            slot.release()


class GuardedRequestHandler(BaseHTTPRequestHandler):
    """Subclasses implement `refuse(status, message, headers)` in their own error format and read
    bodies through `read_body(max_bytes)`."""

    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_SECONDS

    def setup(self) -> None:
        super().setup()
        # Without this, a keep-alive client waits ~40 ms per request on delayed ACKs.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def refuse(
        self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None
    ) -> None:
        raise NotImplementedError

    def allowed_methods(self) -> list[str]:
        """What a 405 lists in its Allow header (RFC 9110): by default every method the
        handler implements; a handler that routes per path narrows it."""
        return sorted(name[3:] for name in dir(type(self)) if name.startswith("do_"))

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>; a method the handler lacks is a 405, not a 501.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    def _method_not_allowed(self) -> None:
        self.close_connection = True  # its body, if any, is not read
        self.refuse(
            HTTPStatus.METHOD_NOT_ALLOWED,
            f"method {self.command} is not allowed",
            {"Allow": ", ".join(self.allowed_methods())},
        )

    def read_body(self, max_bytes: int, *, required: bool = False) -> bytes | None:
        """The request body, or None after answering why it is refused (411, 400, 413)."""
        if self.headers.get("Transfer-Encoding"):
            # Where a chunked body ends is unknown without decoding it: hang up after the
            # answer rather than read the chunks as the next request.
            self.close_connection = True
            self.refuse(
                HTTPStatus.LENGTH_REQUIRED, "send a Content-Length; chunked bodies are refused"
            )
            return None
        raw = self.headers.get("Content-Length")
        if raw is None:
            if required:
                self.close_connection = True
                self.refuse(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
                return None
            return b""
        length = self._declared_length()
        if length < 0:
            self.close_connection = True
            self.refuse(HTTPStatus.BAD_REQUEST, "bad Content-Length")
            return None
        if length > max_bytes:
            self.discard(length, max_bytes)
            self.refuse(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body of {length} bytes exceeds the {max_bytes}-byte limit",
            )
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True  # the client hung up mid-body
        return body

    def _declared_length(self) -> int:
        """Content-Length as a number; -1 when it is not exactly one decimal number."""
        values = self.headers.get_all("Content-Length") or []
        if len(values) != 1 or not re.fullmatch(r"[0-9]{1,18}", values[0].strip()):
            return -1
        return int(values[0])

    def drain(self, max_bytes: int) -> None:
        """Drop the body of a request refused before its body was read (e.g. no route)."""
        length = self._declared_length()
        if self.headers.get("Transfer-Encoding") or length < 0:
            self.close_connection = True
        else:
            self.discard(length, max_bytes)

    def discard(self, length: int, max_bytes: int) -> None:
        """Read and drop a refused body so the keep-alive connection stays usable; past a
        bound it is cheaper to hang up after answering."""
        if length > DISCARD_LIMIT_FACTOR * max_bytes:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)
