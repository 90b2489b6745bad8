"""Targets the tests serve themselves on loopback, and the locustfile that calls them.

`serving(handler)` runs a threaded HTTP server on 127.0.0.1 for a `with` block and gives
its base URL; `answering(status)` is a keep-alive handler whose every GET gets
`status()` and the body `ok`; `caller_locustfile(rate)` is one FastHttpUser that GETs `/`
(request name `call`) at `rate` requests per second. Harness runs load such targets from
a subprocess: nothing here imports Locust.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def caller_locustfile(rate_per_s: int) -> str:
    """A locustfile whose one user GETs `/` as `call`, `rate_per_s` times a second."""
    return f"""
from locust import FastHttpUser, constant_throughput, task


class Caller(FastHttpUser):
    wait_time = constant_throughput({rate_per_s})

    @task
    def call(self):
        self.client.get("/", name="call")
"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a load run opens many connections at once


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that keeps the test's output clean (no access log)."""

    def log_message(self, *_args: Any) -> None:
        pass


def answering(status: Callable[[], int]) -> type[BaseHTTPRequestHandler]:
    """A keep-alive handler answering every GET with `status()` and the body `ok`."""

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(status())
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    return Handler


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port for the block; yields the base URL."""
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
