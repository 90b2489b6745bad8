"""The router's control API server: a tiny JSON-over-HTTP/1.1 server on gevent sockets.

One request per connection (`Connection: close`), the response written in one send with
TCP_NODELAY set. Loaded only inside the router process (it imports gevent).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Protocol

import gevent
from gevent import socket as gsocket

from harness.errors import ConfigError
from harness.topology.toxics import Toxic

Handler = Callable[[str, str, bytes], tuple[int, Any]]


class Controlled(Protocol):
    """What the control API drives: the router's state and its toxics."""

    @property
    def toxics(self) -> Mapping[str, Toxic]: ...

    def status(self) -> dict[str, Any]: ...

    def add_toxic(self, body: Any) -> Toxic: ...

    def remove_toxics(self, names: Sequence[str]) -> None: ...


_MAX_REQUEST_BYTES = 1 << 20


def set_nodelay(sock: gsocket.socket) -> None:
    """Turn Nagle off: a response written in two sends must not wait for a delayed ACK."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Extension(Protocol):
    """Another API served on the same port (the Toxiproxy subset)."""

    def handles(self, path: str) -> bool: ...

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]: ...


def control_handler(router: Controlled, extension: Extension | None = None) -> Handler:
    """The API: GET /status, GET /toxics, POST /toxics, DELETE /toxics[/NAME]; the paths
    `extension` handles go to it."""

    def handle(method: str, target: str, body: bytes) -> tuple[int, Any]:
        path = target.split("?", 1)[0].rstrip("/") or "/"
        if extension is not None and extension.handles(path):
            return extension.handle(method, path, body)
        try:
            if method == "GET" and path == "/status":
                return 200, router.status()
            if method == "GET" and path == "/toxics":
                return 200, [t.to_json() for t in router.toxics.values()]
            if method == "POST" and path == "/toxics":
                return 201, router.add_toxic(json.loads(body or b"null")).to_json()
            if method == "DELETE" and path == "/toxics":
                router.remove_toxics(list(router.toxics))
                return 204, None
            if method == "DELETE" and path.startswith("/toxics/"):
                router.remove_toxics([path.removeprefix("/toxics/")])
                return 204, None
        except (ConfigError, ValueError) as exc:
            return 400, {"error": str(exc)}
        except KeyError as exc:
            exists = method == "POST"
            what = "exists" if exists else "not found"
            return 409 if exists else 404, {"error": f"toxic {exc.args[0]!r} {what}"}
        return 404, {"error": f"no route {method} {path}"}

    return handle


def serve_control(listener: gsocket.socket, handle: Handler) -> gevent.Greenlet:
    """Accept control requests on `listener` until it is closed; returns the accept greenlet."""

    def accept_loop() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            gevent.spawn(_serve_one, sock, handle)

    return gevent.spawn(accept_loop)


def _serve_one(sock: gsocket.socket, handle: Handler) -> None:
    try:
        set_nodelay(sock)
        sock.settimeout(5.0)
        request = _read_request(sock)
        if request is None:
            return
        method, target, body = request
        try:
            status, payload = handle(method, target, body)
        except Exception as exc:  # the router must answer, not die, on a handler bug
            status, payload = 500, {"error": f"{type(exc).__name__}: {exc}"}
        _respond(sock, status, payload)
    except OSError:
        pass
    finally:
        sock.close()


def _read_request(sock: gsocket.socket) -> tuple[str, str, bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > _MAX_REQUEST_BYTES:
            _respond(sock, 413, {"error": "request too large"})
            return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        _respond(sock, 400, {"error": "malformed request line"})
        return None
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip()) if value.strip().isdigit() else -1
    if not 0 <= length <= _MAX_REQUEST_BYTES:
        _respond(sock, 400, {"error": "bad Content-Length"})
        return None
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return parts[0], parts[1], body[:length]


def _respond(sock: gsocket.socket, status: int, payload: Any) -> None:
    body = b"" if payload is None else json.dumps(payload).encode()
    reason = HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode("latin-1") + body)
