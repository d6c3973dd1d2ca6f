"""HTTP plumbing for the simulator: threaded, HTTP/1.1 keep-alive, Nagle off, one write per answer."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from schemahub_lib.sim.wire import Response


class Dispatcher(Protocol):
    """What the HTTP layer calls: the simulator's request path."""

    stopping: threading.Event

    def dispatch(
        self, method: str, raw_path: str, headers: dict[str, str], client: str, body: bytes
    ) -> Response: ...


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a paging client reuses one connection
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections close after this
    server: HttpServer

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        # X-Sim-Client lets one test act as several IPs against per-IP limits.
        client = headers.get("x-sim-client") or self.client_address[0]
        self._write(self.server.sim.dispatch(self.command, self.path, headers, client, body))

    do_POST = do_GET
    do_DELETE = do_GET

    def _write(self, r: Response) -> None:
        if r.delay_s and self.server.sim.stopping.wait(r.delay_s):
            r = Response(0, b"", disconnect=True)
        if r.disconnect:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            reason = HTTPStatus(r.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [
            f"HTTP/1.1 {r.status} {reason}",
            f"Content-Type: {r.content_type}",
            f"Content-Length: {r.declared_length or len(r.body)}",
            *(f"{k}: {v}" for k, v in r.headers),
        ]
        if r.declared_length:
            self.close_connection = True
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + r.body)
        if r.declared_length:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would dominate the cost of serving a page


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sim: Dispatcher) -> None:
        self.sim = sim
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # the client went away (timed out, closed early): nothing to report
        super().handle_error(request, client_address)
