"""The router against real upstream processes: byte-exact forwarding with Nagle off, and each
toxic acting for real (and undone by its removal)."""

from __future__ import annotations

import ctypes
import hashlib
import http.client
import os
import socket
import time
from collections.abc import Callable

import pytest

from harness.errors import ConfigError, RunFailed
from harness.testing import wait_until
from harness.topology.router import Router

from .conftest import Upstream, get, get_or_none
from .upstream_server import pattern

pytestmark = pytest.mark.e2e
_SYS_PIDFD_GETFD = 438  # the same number on x86_64 and the generic (arm64) syscall table


def tcp_nodelay_of_process(pid: int) -> list[int]:
    """TCP_NODELAY of every TCP socket open in process `pid`, read from duplicates of its
    descriptors (pidfd_getfd): what the kernel has, not what the router says."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    values = []
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except OSError:
                continue
            fd = libc.syscall(_SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                continue
            with socket.socket(fileno=fd) as sock:
                if sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM:
                    values.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        os.close(pidfd)
    return values


def connect(router: Router) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", router.listen_port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def whoami_raw(sock: socket.socket) -> None:
    sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n")


def read_response(sock: socket.socket) -> bytes:
    """Read one whole response (headers and a Content-Length body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, f"closed after {data!r}"
        body += chunk
    return head + b"\r\n\r\n" + body


def timed_get(router: Router, path: str = "/whoami") -> float:
    started = time.monotonic()
    status, _ = get(router.url, path)
    assert status == 200
    return time.monotonic() - started


def test_forwards_megabytes_byte_exact_with_nodelay_on_every_socket(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    router = router_for([upstreams("a")])
    upload = os.urandom(3_000_000)
    conn = http.client.HTTPConnection("127.0.0.1", router.listen_port, timeout=10)
    try:
        conn.request("POST", "/echo", body=upload)
        echoed = conn.getresponse().read()
        assert hashlib.sha256(echoed).digest() == hashlib.sha256(upload).digest()
        conn.request("GET", "/bytes?n=4000000")  # same keep-alive connection
        downloaded = conn.getresponse().read()
        assert downloaded == pattern(4_000_000)
        assert router.pid is not None
        flags = tcp_nodelay_of_process(router.pid)
        # listener, control listener, the client's connection and its upstream connection
        assert len(flags) >= 4 and all(flags), flags
    finally:
        conn.close()


def test_latency_adds_at_least_its_delay_and_goes_away_when_removed(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    router = router_for([upstreams("a")])
    router.add_toxic("latency", name="slow", latency_ms=300)
    assert timed_get(router) >= 0.300
    router.add_toxic("latency", name="slow-a", scope="a", stream="upstream", latency_ms=200)
    assert timed_get(router) >= 0.500
    router.clear_toxics()
    assert min(timed_get(router) for _ in range(3)) < 0.300


def test_timeout_toxic_holds_data_until_removed_then_it_flows(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    router = router_for([upstreams("a")])
    router.add_toxic("timeout", name="blackhole")
    with pytest.raises(TimeoutError):
        get(router.url, "/whoami", timeout_s=0.5)
    held = connect(router)
    try:
        whoami_raw(held)
        held.settimeout(0.3)
        with pytest.raises(TimeoutError):
            held.recv(100)
        router.remove_toxic("blackhole")
        held.settimeout(5)
        assert read_response(held).endswith(b"\r\n\r\na")  # nothing was dropped
    finally:
        held.close()
    assert get(router.url, "/whoami") == (200, b"a")


def test_timeout_toxic_with_a_timeout_closes_the_connection(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    router = router_for([upstreams("a")])
    router.add_toxic("timeout", timeout_ms=200)
    sock = connect(router)
    try:
        whoami_raw(sock)
        assert sock.recv(100) == b""  # closed after 200 ms, no answer
    finally:
        sock.close()


def test_reset_peer_resets_new_and_existing_connections(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    router = router_for([upstreams("a")])
    kept = connect(router)
    try:
        whoami_raw(kept)
        assert read_response(kept).startswith(b"HTTP/1.1 200")
        router.add_toxic("reset_peer", name="rst")
        with pytest.raises(ConnectionResetError):
            kept.recv(100)
    finally:
        kept.close()
    fresh = connect(router)
    try:
        with pytest.raises(ConnectionResetError):
            fresh.recv(100)
    finally:
        fresh.close()
    router.remove_toxic("rst")
    assert get(router.url, "/whoami") == (200, b"a")


def test_down_refuses_connections_and_closes_open_ones_until_removed(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    router = router_for([upstreams("a")])
    kept = connect(router)
    try:
        router.add_toxic("down", name="off")
        assert kept.recv(100) == b""
    finally:
        kept.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", router.listen_port), timeout=2).close()
    assert router.status()["listening"] is False
    router.remove_toxic("off")
    assert get(router.url, "/whoami") == (200, b"a")  # the same port again


def test_an_unreachable_only_upstream_resets_the_client(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    router = router_for([upstreams("a")])
    router.add_toxic("down", scope="a")
    with pytest.raises(ConnectionResetError):  # at connect or at the first read: a race
        sock = connect(router)
        try:
            sock.recv(100)
        finally:
            sock.close()
    wait_until(lambda: not router.status()["regions"]["a"]["healthy"], 5, "a unhealthy")
    router.clear_toxics()
    wait_until(lambda: get_or_none(router.url, "/whoami") == b"a", 5, "a back")


def test_the_control_api_refuses_bad_requests_with_reasons(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    router = router_for([upstreams("a")])
    with pytest.raises(ConfigError, match=r"toxic\.scope"):
        router.add_toxic("latency", scope="nowhere")
    router.add_toxic("latency", name="x", latency_ms=1)
    with pytest.raises(RunFailed, match="exists"):
        router.add_toxic("latency", name="x", latency_ms=1)
    with pytest.raises(RunFailed, match="not found"):
        router.remove_toxic("y")
    assert [t["name"] for t in router.list_toxics()] == ["x"]
    kinds = [e["kind"] for e in router.events()]
    assert kinds[0] == "router_started" and "toxic_added" in kinds
