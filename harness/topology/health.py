"""One health check of one endpoint, as the router sees it through the region's toxics.

A check travels the same (possibly toxic) link as the region's traffic: `down` and
`reset_peer` fail it at once, `timeout` makes it wait its whole timeout and fail, `latency`
delays it and fails it when the delay reaches the timeout. Router process only (gevent).
"""

from __future__ import annotations

import random

import gevent
from gevent import socket as gsocket

from harness.topology.control import set_nodelay
from harness.topology.router import HealthCheck
from harness.topology.toxics import Effect


def check_endpoint(
    host: str, port: int, health: HealthCheck, effect: Effect, rng: random.Random
) -> tuple[bool, str]:
    """Run one check within `health.timeout_s`; returns (healthy, detail)."""
    if effect.down:
        return False, "down toxic"
    if effect.reset:
        return False, "reset_peer toxic"
    if effect.hold:
        gevent.sleep(health.timeout_s)
        return False, f"timed out after {health.timeout_s:g}s (timeout toxic)"
    delay_s = effect.delay_s("upstream", rng) + effect.delay_s("downstream", rng)
    if delay_s >= health.timeout_s:
        gevent.sleep(health.timeout_s)
        return False, f"timed out after {health.timeout_s:g}s (latency toxic)"
    gevent.sleep(delay_s)
    try:
        with gevent.Timeout(health.timeout_s - delay_s):
            return _probe(host, port, health)
    except gevent.Timeout:
        return False, f"timed out after {health.timeout_s:g}s"
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _probe(host: str, port: int, health: HealthCheck) -> tuple[bool, str]:
    sock = gsocket.create_connection((host, port))
    try:
        set_nodelay(sock)
        if health.kind == "tcp":
            return True, "connected"
        request = (
            f"GET {health.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "User-Agent: harness-router\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(request.encode("latin-1"))
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return False, "connection closed before a status line"
            head += chunk
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return False, f"bad status line {status_line[:80]!r}"
        code = int(parts[1])
        return 200 <= code < 300, f"{health.path} answered {code}"
    finally:
        sock.close()
