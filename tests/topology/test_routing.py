"""Routing rules: hysteresis, failover, failback, and the order new connections try."""

from __future__ import annotations

import pytest

from harness.topology.routing import Endpoint, RoutingTable

A = Endpoint("a", "127.0.0.1", 1001)
A2 = Endpoint("a", "127.0.0.1", 1003)
B = Endpoint("b", "127.0.0.1", 1002)


def kinds(events: list[dict[str, object]]) -> list[object]:
    return [e["kind"] for e in events]


def healthy_start(table: RoutingTable) -> None:
    for ep in table.endpoints:
        assert table.record(ep.key, True, "ok", 0.0) == []
    assert table.ready


def test_fall_checks_in_a_row_fail_over_and_rise_checks_fail_back() -> None:
    table = RoutingTable([A, B], rise=2, fall=2)
    healthy_start(table)
    assert table.active == "a" and table.candidates()[0] == A
    assert table.record(A.key, False, "refused", 1.0) == []  # one failure is not enough
    events = table.record(A.key, False, "refused", 2.0)
    assert kinds(events) == ["endpoint_health", "region_health", "route_changed"]
    assert events[-1] | {"t": 0} == {
        "kind": "route_changed", "from": "a", "to": "b", "reason": "region a unhealthy", "t": 0
    }  # fmt: skip
    assert table.candidates() == [B, A]  # a only as a last resort
    assert table.record(A.key, True, "ok", 3.0) == []
    assert kinds(table.record(A.key, True, "ok", 4.0))[-1] == "route_changed"
    assert table.active == "a"


def test_a_success_resets_the_failure_streak() -> None:
    table = RoutingTable([A, B], fall=2)
    healthy_start(table)
    table.record(A.key, False, "x", 1.0)
    table.record(A.key, True, "ok", 2.0)
    assert table.record(A.key, False, "x", 3.0) == []
    assert table.active == "a"


def test_without_failback_traffic_stays_where_it_went() -> None:
    table = RoutingTable([A, B], rise=1, fall=1, failback=False)
    healthy_start(table)
    table.record(A.key, False, "x", 1.0)
    assert table.active == "b"
    table.record(A.key, True, "ok", 2.0)
    assert table.active == "b"
    table.record(B.key, False, "x", 3.0)
    assert table.active == "a"


def test_first_check_sets_health_without_hysteresis() -> None:
    table = RoutingTable([A, B], fall=3)
    events = table.record(A.key, False, "refused", 0.0)
    assert kinds(events) == ["endpoint_health", "region_health", "route_changed"]
    assert table.active == "b" and not table.ready


def test_nothing_healthy_means_no_active_region_and_every_endpoint_in_order() -> None:
    table = RoutingTable([A, B], primary="b", fall=1)
    healthy_start(table)
    assert table.active == "b"
    table.record(A.key, False, "x", 1.0)
    events = table.record(B.key, False, "x", 2.0)
    assert events[-1]["to"] is None and table.active is None
    assert table.candidates() == [A, B]


def test_a_region_with_two_endpoints_round_robins_and_survives_one_loss() -> None:
    table = RoutingTable([A, A2, B], fall=1)
    healthy_start(table)
    firsts = {table.candidates()[0] for _ in range(4)}
    assert firsts == {A, A2}
    events = table.record(A.key, False, "x", 1.0)
    assert kinds(events) == ["endpoint_health"]  # the region still has A2
    assert table.candidates()[:2] == [A2, B]


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        RoutingTable([])
    with pytest.raises(ValueError):
        RoutingTable([A], primary="z")
