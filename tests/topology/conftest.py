"""Fixtures for the topology tests: upstream processes, a router in front of them, and
helpers that wait on conditions with deadlines."""

from __future__ import annotations

import contextlib
import http.client
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.topology.router import HealthCheck, Router

HERE = Path(__file__).parent
FAST_HEALTH = HealthCheck(interval_s=0.1, timeout_s=0.3, rise=2, fall=2)


@dataclass
class Upstream:
    """An upstream_server.py process."""

    name: str
    port: int
    process: subprocess.Popen[str]

    def kill(self) -> None:
        """SIGKILL it and reap it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_upstream(name: str, port: int = 0) -> Upstream:
    """Start an upstream and wait (bounded) until it prints that it listens."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "upstream_server.py"), str(port), name],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the server prints READY before serving, or dies
    if not line.startswith("READY"):
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        raise RuntimeError(f"upstream {name} did not start: {line!r}")
    return Upstream(name, int(line.split()[1]), process)


@pytest.fixture
def upstreams() -> Iterator[Callable[[str], Upstream]]:
    """`upstreams(name)` starts one; all are killed at the end."""
    started: list[Upstream] = []

    def make(name: str) -> Upstream:
        upstream = start_upstream(name)
        started.append(upstream)
        return upstream

    yield make
    for upstream in started:
        upstream.kill()


@pytest.fixture
def router_for(tmp_path: Path) -> Iterator[Callable[..., Router]]:
    """`router_for(upstreams, **kwargs)`: a started Router; stopped at the end."""
    routers: list[Router] = []

    def make(pairs: list[Upstream], **kwargs: object) -> Router:
        kwargs.setdefault("health", FAST_HEALTH)
        work_dir = tmp_path / f"router{len(routers)}"
        router = Router([(u.name, "127.0.0.1", u.port) for u in pairs], work_dir=work_dir, **kwargs)  # type: ignore[arg-type]
        routers.append(router)
        return router.start()

    yield make
    for router in routers:
        router.stop()


def get(url: str, path: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """One GET on a fresh connection (Nagle off): status and body."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
    try:
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def get_or_none(url: str, path: str, timeout_s: float = 2.0) -> bytes | None:
    """The body of a 200 answer, or None on any error."""
    with contextlib.suppress(OSError, http.client.HTTPException):
        status, body = get(url, path, timeout_s)
        if status == 200:
            return body
    return None


def connect_keepalive(port: int) -> http.client.HTTPConnection:
    """An open keep-alive HTTP connection to 127.0.0.1:`port`, Nagle off."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.connect()
    assert conn.sock is not None
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn
