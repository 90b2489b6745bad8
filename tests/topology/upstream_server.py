"""A tiny HTTP/1.1 upstream for router tests, run as its own process so it can be killed.

`python upstream_server.py PORT NAME`: GET /readyz (200), GET /whoami (NAME), GET /bytes?n=N
(N deterministic bytes), POST /echo (the body back). Keep-alive, Nagle off.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def pattern(size: int) -> bytes:
    """`size` deterministic, non-repeating-looking bytes."""
    block = bytes((i * 7 + i // 251) % 256 for i in range(65536))
    return (block * (size // len(block) + 1))[:size]


class Handler(BaseHTTPRequestHandler):
    """Answers the routes in the module docstring."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    name = "?"

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/bytes":
            self._send(200, pattern(int(parse_qs(url.query)["n"][0])))
        elif url.path in ("/readyz", "/whoami"):
            self._send(200, self.name.encode())
        else:
            self._send(404, b"no such route")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._send(200, self.rfile.read(length))

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    """Serve on 127.0.0.1:PORT as NAME until killed; print READY when listening."""
    port, name = int(sys.argv[1]), sys.argv[2]
    Handler.name = name
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
