"""Failover through the router between two real upstream processes, with the default health
checks (every 250 ms, 500 ms timeout, 2 in a row): a killed or cut-off region is left for the
other within a bounded time, measured from the fault to the first answer from region b."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from harness.testing import wait_until
from harness.topology.router import HealthCheck, Router

from .conftest import Upstream, connect_keepalive, get_or_none, start_upstream

pytestmark = pytest.mark.e2e
DEFAULT = HealthCheck()
BOUND_S = 5.0  # generous: the machine is shared; typical values are well under 1.5 s


def answered_by(router: Router, region: bytes) -> Callable[[], bool]:
    return lambda: get_or_none(router.url, "/whoami", timeout_s=1.0) == region


def test_sigkill_of_region_a_fails_over_to_b_and_back(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    a, b = upstreams("a"), upstreams("b")
    router = router_for([a, b], health=DEFAULT)
    assert get_or_none(router.url, "/whoami") == b"a"
    killed_at = time.monotonic()
    a.kill()
    failover_s = wait_until(answered_by(router, b"b"), BOUND_S, "answers from b")
    wait_until(lambda: router.status()["active"] == "b", BOUND_S, "route to b")
    print(f"failover after SIGKILL: first answer from b {failover_s:.3f}s, "
          f"route changed {time.monotonic() - killed_at:.3f}s")  # fmt: skip
    revived = start_upstream("a", port=a.port)
    try:
        wait_until(answered_by(router, b"a"), BOUND_S, "failback to a")
    finally:
        revived.kill()
    kinds = [(e["kind"], e.get("to")) for e in router.events() if e["kind"] == "route_changed"]
    assert kinds == [("route_changed", "b"), ("route_changed", "a")]


def test_blackholed_region_fails_over_and_its_connections_are_closed(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    a, b = upstreams("a"), upstreams("b")
    router = router_for([a, b], health=DEFAULT)
    kept = connect_keepalive(router.listen_port)
    try:
        kept.request("GET", "/whoami")
        assert kept.getresponse().read() == b"a"
        router.add_toxic("timeout", scope="a", name="cut")
        failover_s = wait_until(answered_by(router, b"b"), BOUND_S, "answers from b")
        print(f"failover after blackholing a: first answer from b {failover_s:.3f}s")
        assert kept.sock is not None
        kept.sock.settimeout(BOUND_S)
        assert kept.sock.recv(10) == b""  # the router closed the keep-alive connection to a
    finally:
        kept.close()
    closed = [e for e in router.events() if e["kind"] == "connections_closed"]
    assert closed and closed[0]["count"] >= 1
    router.remove_toxic("cut")
    wait_until(answered_by(router, b"a"), BOUND_S, "failback to a")


def test_without_failback_traffic_stays_on_b(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    a, b = upstreams("a"), upstreams("b")
    router = router_for([a, b], failback=False)
    router.add_toxic("down", scope="a", name="cut")
    wait_until(lambda: router.status()["active"] == "b", BOUND_S, "route to b")
    router.remove_toxic("cut")
    wait_until(lambda: router.status()["regions"]["a"]["healthy"], BOUND_S, "a healthy again")
    assert router.status()["active"] == "b"
    assert get_or_none(router.url, "/whoami") == b"b"
