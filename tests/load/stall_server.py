"""A loopback HTTP target that stalls every response for `stall_s` during a window.

Threaded (one thread per connection), so stalled requests do not hold back the others; it
records the arrival time of every request, which is when a client *started* it: the
evidence of whether starts go on while responses stall.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


class StallServer:
    """Stalls requests that arrive in [first + stall_from_s, first + stall_to_s) (and in
    each window of `also`, likewise relative to the first request)."""

    def __init__(
        self,
        stall_from_s: float,
        stall_to_s: float,
        stall_s: float = 2.0,
        also: tuple[tuple[float, float], ...] = (),
    ) -> None:
        self.stall_from_s, self.stall_to_s, self.stall_s = stall_from_s, stall_to_s, stall_s
        self.windows = ((stall_from_s, stall_to_s), *also)  # `also`: more stall windows
        self.arrivals: list[float] = []
        self.first: float | None = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                now = time.time()
                with server._lock:
                    server.arrivals.append(now)
                    if server.first is None:
                        server.first = now
                    since = now - server.first
                if any(start <= since < end for start, end in server.windows):
                    time.sleep(server.stall_s)  # the stall itself, not a wait for a condition
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StallServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def per_second(self, since: float, until: float) -> list[int]:
        """Requests started in each whole second from `since` (absolute) up to `until`."""
        with self._lock:
            arrivals = list(self.arrivals)
        return [
            sum(1 for t in arrivals if since + k <= t < since + k + 1)
            for k in range(int(until - since))
        ]
