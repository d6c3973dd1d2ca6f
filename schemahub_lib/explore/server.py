"""Run the explorer app under uvicorn, in the foreground (the CLI) or in a thread (tests)."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from schemahub_lib.settings import Settings


def build(settings: Settings, *, live: bool = False, warm: bool = False, **live_options: Any) -> Any:
    """(the ASGI app, the live monitor or None); `live_options` go to `live.load_monitor`."""
    from schemahub_lib.explore.app import Explorer, build_app

    monitor = None
    if live:
        from schemahub_lib.explore.live import load_monitor

        monitor = load_monitor(settings, **live_options)
    explorer = Explorer(settings, live=monitor)
    if warm:
        explorer.warm()  # the markets and spike lists, computed while the user opens the page
    return build_app(explorer), monitor


def serve(settings: Settings, *, host: str, port: int, **options: Any) -> int:
    app, monitor = build(settings, warm=True, **options)
    sock = _bind(host, port)
    print(
        f"schemahub explore: http://{host}:{sock.getsockname()[1]}/  (warehouse {settings.warehouse})",
        flush=True,
    )
    if monitor is not None:
        monitor.start()
    try:
        server = StoppableServer(
            uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
        )
        server.run(sockets=[sock])
    finally:
        if monitor is not None:
            monitor.stop()
    if monitor is None:
        return 0
    for line in monitor.summary():  # a stream that ended failed is named, and the exit code is 1
        print(line, file=sys.stderr, flush=True)
    return int(monitor.exit_code)


class StoppableServer(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM after its shutdown, which would end the process before
    the live monitor writes its open episodes; here the signals only stop the server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        def stop(signum: int, frame: Any) -> None:
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class ThreadedServer:
    """The app on an ephemeral loopback port in a background thread (for tests and the bench)."""

    def __init__(self, app: Any) -> None:
        self.sock = _bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
        )
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("explorer server did not start within 10 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
