"""The HAProxy front door's state rules and the runtime API commands a change becomes."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.topology.door_sync import DoorState, commands, desired
from harness.topology.front_door import HaproxyDoor, endpoint_servers, resolve_front_door
from harness.topology.routing import Endpoint, RoutingTable
from harness.topology.toxics import toxic_from_json

A, B, C = (Endpoint(r, "127.0.0.1", 1001 + i) for i, r in enumerate("abc"))
SERVERS = endpoint_servers([(e.region, e.host, e.port) for e in (A, B, C)])


def table(**kwargs: bool) -> RoutingTable:
    routing = RoutingTable([A, B, C], rise=1, fall=1, **kwargs)
    for ep in (A, B, C):
        routing.record(ep.key, True, "ok", 0.0)
    return routing


def toxic(**body: object) -> object:
    return toxic_from_json(body, ["listener", "a", "b", "c"], default_name="t")


def test_the_primary_takes_traffic_and_the_next_region_stands_by_as_backup() -> None:
    state = desired(table(), [], SERVERS)
    assert state.servers == {"ep0": "ready", "ep1": "ready", "ep2": "ready", "router": "maint"}


def test_after_failover_only_the_active_region_is_ready() -> None:
    routing = table(failback=False)
    routing.record(A.key, False, "refused", 1.0)
    assert desired(routing, [], SERVERS).servers == {
        "ep0": "maint", "ep1": "ready", "ep2": "maint", "router": "maint"
    }  # fmt: skip
    routing.record(A.key, True, "ok", 2.0)  # no failback: a stays out
    assert desired(routing, [], SERVERS).servers["ep0"] == "maint"


def test_nothing_healthy_leaves_every_endpoint_as_a_last_resort() -> None:
    routing = table()
    for ep in (A, B, C):
        routing.record(ep.key, False, "refused", 1.0)
    assert set(desired(routing, [], SERVERS).servers.values()) >= {"ready"}
    assert desired(routing, [], SERVERS).servers["router"] == "maint"


def test_any_toxic_sends_every_connection_through_the_router() -> None:
    state = desired(table(), [toxic(type="latency", scope="b")], SERVERS)
    assert state.servers == {"ep0": "maint", "ep1": "maint", "ep2": "maint", "router": "ready"}
    assert state.frontend_enabled
    down = desired(table(), [toxic(type="down")], SERVERS)
    assert not down.frontend_enabled


def test_leaving_ready_shuts_the_sessions_down_except_the_routers() -> None:
    direct = desired(table(), [], SERVERS)
    routed = desired(table(), [toxic(type="timeout", scope="a")], SERVERS)
    lines = commands(direct, routed)
    assert "set server regions/ep0 state maint" in lines
    assert "shutdown sessions server regions/ep0" in lines
    assert "set server regions/router state ready" in lines
    back = commands(routed, direct)
    assert "set server regions/router state maint" in back
    assert not any(line.startswith("shutdown sessions") for line in back)
    assert commands(direct, direct) == []
    assert len(commands(None, direct)) == 5  # a full resync: frontend + every server
    resync = commands(direct, routed, full=True)  # a change on a resync tick still shuts
    assert len(resync) == 8 and "shutdown sessions server regions/ep0" in resync


def test_a_listener_down_toxic_disables_the_frontend() -> None:
    lines = commands(DoorState({"router": "ready"}), DoorState({"router": "ready"}, False))
    assert lines == ["disable frontend front"]


def test_haproxy_config_declares_backups_and_the_router_disabled() -> None:
    door = HaproxyDoor(8000, 8001, 8002, (("a", "127.0.0.1", 1), ("b", "127.0.0.1", 2)), "a")
    text = door.config_text()
    assert (
        "server ep0 127.0.0.1:1 check" in text
        and "backup" not in text.split("ep0")[1].split("\n")[0]
    )
    assert (
        "server ep1 127.0.0.1:2 check" in text and "backup" in text.split("ep1")[1].split("\n")[0]
    )
    assert "server router 127.0.0.1:8002 disabled" in text
    assert "stats socket ipv4@127.0.0.1:8001 level admin" in text


def test_front_door_choice_is_validated() -> None:
    with pytest.raises(ConfigError, match="front_door"):
        resolve_front_door("nginx")
    assert resolve_front_door("router") == ("router", None)
