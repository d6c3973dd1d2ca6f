"""Test support for the connector and HTTP tests: fakes at the boundary, no mocks.

* `Loopback`: a real HTTP server on 127.0.0.1 answering with scripted replies. Routes map a
  path to a list of replies consumed in order (the last one repeats) or to a function of the
  request. Every request is recorded with its query and client port, so tests can assert what
  was asked and that keep-alive reused the connection.
* `FakeClock`: a monotonic clock whose `sleep` advances it, so pacing and backoff are tested
  without waiting.
* `fixture_bytes`: the real recorded exchange responses under tests/fixtures/exchanges/.
* `make_client`: an `HttpClient` on a loopback server with fake sleep and a private pacer.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from schemahub_lib.http import (
    BanStore,
    HttpClient,
    HttpCounters,
    MemoryBanStore,
    PacerRegistry,
    RateLimit,
    RetryPolicy,
    new_session,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges"


def fixture_bytes(relative: str) -> bytes:
    """A recorded exchange response, e.g. fixture_bytes("kraken/trades_....json")."""
    return (FIXTURES / relative).read_bytes()


class FakeClock:
    """Monotonic and wall clock in one; `sleep` advances time and records the delay."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering (timeouts)
    content_length: int | None = None  # lie about the length (a cut-off transfer)


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, str]
    port: int


Route = list[Reply] | Callable[[Seen], Reply]


class Loopback:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                seen = Seen(split.path, query, self.client_address[1])
                reply = outer._reply(seen)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    length = len(reply.body) if reply.content_length is None else reply.content_length
                    self.send_header("Content-Length", str(length))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    if reply.content_length is not None:
                        self.close_connection = True
                except OSError:
                    self.close_connection = True  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, path: str, route: Route) -> None:
        self.routes[path] = route

    def _reply(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            route = self.routes.get(seen.path)
            if route is None:
                return Reply(404, b'{"message":"NotFound"}')
            if callable(route):
                return route(seen)
            return route.pop(0) if len(route) > 1 else route[0]

    def start(self) -> Loopback:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running() -> Iterator[Loopback]:
    server = Loopback().start()
    try:
        yield server
    finally:
        server.stop()


def make_client(
    exchange: str,
    base_url: str,
    *,
    limit: RateLimit | None = None,
    clock: FakeClock | None = None,
    retry: RetryPolicy | None = None,
    ban_store: BanStore | None = None,
    **kwargs: Any,
) -> HttpClient:
    """A client with fake time, a private pacer registry and a private ban store."""
    clock = clock or FakeClock()
    return HttpClient(
        exchange=exchange,
        base_url=base_url,
        session=new_session(),
        limit=limit or RateLimit(None),
        retry=retry or RetryPolicy(max_attempts=3),
        counters=HttpCounters(),
        ban_store=ban_store or MemoryBanStore(),
        pacers=PacerRegistry(clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
        wall_clock=clock,
        rng=random.Random(7),
        **kwargs,
    )
