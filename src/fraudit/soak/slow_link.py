"""Fault injection for the online store (the soak's slow-Redis fault and the tests): a TCP
proxy on loopback whose replies can be made late. Requests reach the server at once (a step
runs), the answer arrives after the client's timeout: the case "a timeout is not a
failure". CLIENT PAUSE cannot show it, since Redis drops the parked commands of a client
that disconnected. Loopback only: it listens on 127.0.0.1 and forwards to 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class SlowLink:
    """`with SlowLink(port) as link:` then connect to `link.url`; `link.delay_next_reply(s)`
    holds the next reply (on any connection) for `s` seconds; `link.delay_all = s` holds
    every reply."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.delay_all = 0.0
        self._delay_next = 0.0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def delay_next_reply(self, seconds: float) -> None:
        with self._lock:
            self._delay_next = seconds

    def _reply_delay(self) -> float:
        with self._lock:
            delay, self._delay_next = self._delay_next, 0.0
        return max(delay, self.delay_all)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:  # the server is down (restarting): so is this connection
                client.close()
                continue
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                delay = self._reply_delay() if replies else 0.0
                if delay:
                    time.sleep(delay)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def start(self) -> SlowLink:
        threading.Thread(target=self._accept, name="slow-link", daemon=True).start()
        return self

    def stop(self) -> None:
        self._closed = True
        self._listener.close()
        for end in self._sockets:
            with contextlib.suppress(OSError):
                end.close()

    def __enter__(self) -> SlowLink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
