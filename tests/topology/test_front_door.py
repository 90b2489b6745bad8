"""The HAProxy front door, end to end: real HAProxy, a real router driving it, real upstreams.

HAProxy routes to the regions directly; a killed primary fails over; a toxic sends traffic
through the router, where it acts; a listener `down` toxic refuses connections.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.topology.front_door import HaproxyDoor, send, server_states
from harness.topology.processes import ManagedProcess, wait_for
from harness.topology.region import pick_fixed_port
from harness.topology.router import Router
from tests.topology.conftest import FAST_HEALTH, Upstream, get, get_or_none

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs haproxy"),
]
BOUND_S = 15.0


@pytest.fixture
def door_for(tmp_path: Path) -> Iterator[Callable[[list[Upstream]], tuple[HaproxyDoor, Router]]]:
    """`door_for(upstreams)`: HAProxy in front of them, driven by a router; both stopped."""
    started: list[Router | ManagedProcess] = []

    def make(pairs: list[Upstream]) -> tuple[HaproxyDoor, Router]:
        endpoints = tuple((u.name, "127.0.0.1", u.port) for u in pairs)
        door = HaproxyDoor(pick_fixed_port(), pick_fixed_port(), pick_fixed_port(), endpoints,
                           pairs[0].name, FAST_HEALTH)  # fmt: skip
        router = Router([(u.name, "127.0.0.1", u.port) for u in pairs], health=FAST_HEALTH,
                        listen_port=door.router_port, haproxy_admin=door.admin,
                        work_dir=tmp_path / "router")  # fmt: skip
        started.append(router.start())
        started.append(door.spawn(tmp_path / "haproxy"))
        wait_for(door.is_ready, BOUND_S, "haproxy to listen")
        wait_for(lambda: server_states(door.admin).get("router") == "DOWN maint", BOUND_S,
                 "the router to take itself out of the path")  # fmt: skip
        return door, router

    yield make
    for item in reversed(started):
        item.stop()


def state_of(door: HaproxyDoor, server: str) -> str | None:
    """HAProxy's view of one server (`UP ready`...), None while HAProxy does not answer."""
    try:
        return server_states(door.admin).get(server)
    except OSError:
        return None


def whoami(door: HaproxyDoor) -> bytes | None:
    return get_or_none(door.url, "/whoami")


def test_haproxy_routes_fails_over_and_a_toxic_takes_effect(
    upstreams: Callable[[str], Upstream],
    door_for: Callable[[list[Upstream]], tuple[HaproxyDoor, Router]],
) -> None:
    a, b = upstreams("a"), upstreams("b")
    door, router = door_for([a, b])
    assert whoami(door) == b"a"
    assert router.status()["counters"]["accepted"] == 0  # straight to the region

    router.add_toxic("latency", scope="a", name="slow", latency_ms=300)
    wait_for(lambda: server_states(door.admin).get("router") == "UP ready", BOUND_S, "routed")
    started = time.monotonic()
    assert get(door.url, "/whoami") == (200, b"a")
    assert time.monotonic() - started >= 0.3  # through the faulted link
    assert router.status()["counters"]["accepted"] >= 1
    router.remove_toxic("slow")
    wait_for(lambda: server_states(door.admin).get("router") == "DOWN maint", BOUND_S, "direct")

    a.kill()
    wait_for(lambda: whoami(door) == b"b", BOUND_S, "failover to b")
    wait_for(lambda: router.status()["active"] == "b", BOUND_S, "the route to change")
    wait_for(lambda: state_of(door, "ep0") == "DOWN maint", BOUND_S, "a out of HAProxy's pool")


def test_a_listener_down_toxic_refuses_connections_at_haproxy(
    upstreams: Callable[[str], Upstream],
    door_for: Callable[[list[Upstream]], tuple[HaproxyDoor, Router]],
) -> None:
    door, router = door_for([upstreams("a")])
    router.add_toxic("down", name="off")

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", door.listen_port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        return False

    wait_for(refused, BOUND_S, "connections refused")
    router.remove_toxic("off")
    wait_for(lambda: whoami(door) == b"a", BOUND_S, "served again")


def test_a_restarted_haproxy_is_put_back_in_step_by_the_router(
    upstreams: Callable[[str], Upstream],
    door_for: Callable[[list[Upstream]], tuple[HaproxyDoor, Router]],
    tmp_path: Path,
) -> None:
    door, router = door_for([upstreams("a")])
    router.add_toxic("latency", name="slow", latency_ms=1)
    wait_for(lambda: server_states(door.admin).get("router") == "UP ready", BOUND_S, "routed")
    pid = int(send(door.admin, ["show info"]).split("Pid: ")[1].split()[0])
    os.kill(pid, signal.SIGKILL)
    # From its configuration file HAProxy starts direct; the router's resync routes it again.
    again = door.spawn(tmp_path / "haproxy-again")
    try:
        wait_for(lambda: state_of(door, "router") == "UP ready", BOUND_S, "the path restored")
        assert (state_of(door, "ep0") or "").endswith("maint")
    finally:
        again.stop()
