"""The whole reference deployment with real service processes: failover through the router,
restarts by the supervisor, the standby, a database failover, a cold start, a clean stop.

One deployment serves the module's tests in order (starting one takes a few seconds)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.testing import wait_until
from harness.topology.deployment import Deployment, DeploymentConfig
from harness.topology.processes import marked_processes
from harness.topology.router import HealthCheck

from .conftest import get_or_none
from .test_replication import destroy

pytestmark = pytest.mark.e2e
BOUND_S = 10.0


class Sink:
    """Keeps the deployment's events."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, kind: str, **fields: Any) -> None:
        self.events.append({"kind": kind, **fields})

    def of(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e for e in self.events
            if e["kind"] == kind and all(e.get(k) == v for k, v in match.items())
        ]  # fmt: skip


@pytest.fixture(scope="module")
def sink() -> Sink:
    return Sink()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, sink: Sink) -> Iterator[Deployment]:
    config = DeploymentConfig(
        tmp_path_factory.mktemp("deployment"),
        seed_items=200,
        standby_interval_s=0.2,
        backup_interval_s=1,
        health=HealthCheck(interval_s=0.1, timeout_s=0.3),
    )
    deployment = Deployment(config, on_event=sink)
    with deployment:
        yield deployment


def ready_through_router(deployment: Deployment) -> Callable[[], bool]:
    return lambda: get_or_none(deployment.url, "/readyz", timeout_s=1.0) is not None


def processes(deployment: Deployment) -> set[str]:
    """What runs: the services, the router, the replicator, and HAProxy when it is the door."""
    return {"a-0", "b-0", "router", "replicator"} | ({"haproxy"} if deployment.door else set())


def post_item(deployment: Deployment, token: str, key: str) -> dict[str, Any]:
    import http.client

    host, port = deployment.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        body = json.dumps({"name": "n", "category": "tools", "price": 1.0, "quantity": 1,
                           "status": "active"})  # fmt: skip
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key,
                   "Content-Type": "application/json"}  # fmt: skip
        conn.request("POST", "/api/items", body=body, headers=headers)
        response = conn.getresponse()
        assert response.status == 201, response.read()
        result: dict[str, Any] = json.loads(response.read())
        return result
    finally:
        conn.close()


def test_clients_reach_the_regions_through_the_router(deployment: Deployment) -> None:
    assert get_or_none(deployment.url, "/readyz") is not None
    pids = deployment.pids()
    assert set(pids) == processes(deployment)
    state = json.loads((deployment.data_dir / "deployment.json").read_text())
    assert state["status"] == "ready" and state["url"] == deployment.url
    assert {p["pid"] for p in state["processes"]} == set(pids.values())
    assert deployment.router.status()["active"] == "a"
    assert [s.region for r in deployment.regions.values() for s in r] == ["a", "b"]


def test_a_sigkilled_region_fails_over_and_is_restarted(deployment: Deployment, sink: Sink) -> None:
    old_pid = deployment.pids()["a-0"]
    assert deployment.kill_region_processes("a") == [old_pid]
    failover_s = wait_until(ready_through_router(deployment), BOUND_S, "answers via region b")
    print(f"deployment failover after SIGKILL of region a: {failover_s:.3f}s")
    wait_until(lambda: bool(sink.of("process_ready", process="a-0")), 30, "a-0 restarted")
    restarted = sink.of("process_restarted", process="a-0")[0]
    assert restarted["pid"] != old_pid and restarted["port"] == deployment.regions["a"][0].port
    assert sink.of("process_exited", process="a-0")[0]["signal"] == "SIGKILL"
    wait_until(lambda: deployment.router.status()["active"] == "a", BOUND_S, "failback to a")
    state = json.loads((deployment.data_dir / "deployment.json").read_text())
    assert restarted["pid"] in {p["pid"] for p in state["processes"]}
    assert sink.of("route_changed", source="router")


def test_a_held_region_stays_down_until_restored(deployment: Deployment) -> None:
    deployment.kill_region_processes("b", restart=False)
    wait_until(lambda: "b-0" not in deployment.pids(), BOUND_S, "b-0 gone")
    assert get_or_none(deployment.url, "/readyz") is not None  # a serves
    assert "b-0" not in deployment.pids()
    assert deployment.restore("b") > 0
    assert deployment.pids()["b-0"] > 0


def test_a_killed_router_comes_back_on_its_port_without_its_toxics(
    deployment: Deployment, sink: Sink
) -> None:
    url = deployment.url
    deployment.router.add_toxic("latency", name="slow", latency_ms=1)
    old_pid = deployment.pids()["router"]
    deployment.kill_router()
    wait_until(lambda: deployment.pids().get("router") not in (None, old_pid), BOUND_S, "restart")
    wait_until(ready_through_router(deployment), BOUND_S, "serving again")
    wait_until(deployment.router.is_ready, BOUND_S, "the router back")
    assert deployment.url == url and deployment.router.list_toxics() == []
    assert deployment.describe()["url"] == url
    assert sink.of("process_exited", process="router")[0]["signal"] == "SIGKILL"


def test_acknowledged_writes_reach_the_standby(
    deployment: Deployment, make_token: Callable[..., str]
) -> None:
    token = make_token(deployment.data_dir, "admin")
    seq = post_item(deployment, token, f"w-{uuid.uuid4()}")["seq"]
    wait_until(
        lambda: (deployment.replication_state().last_sync_seq or 0) >= seq, BOUND_S, "a sync"
    )


def test_database_failover_promotes_the_standby(
    deployment: Deployment, sink: Sink, make_token: Callable[..., str]
) -> None:
    token = make_token(deployment.data_dir, "admin")
    key = f"kept-{uuid.uuid4()}"
    seq = post_item(deployment, token, key)["seq"]
    wait_until(lambda: (deployment.replication_state().last_sync_seq or 0) >= seq, BOUND_S,
               "the write in the standby")  # fmt: skip
    destroy(deployment.data_dir / "items.db", 0, 8192)  # the primary is lost for real
    wait_until(lambda: not ready_through_router(deployment)(), BOUND_S, "the outage")
    result = deployment.promote_standby()
    assert result.mode == "offline" and (result.seq or 0) >= seq  # live was impossible
    wait_until(ready_through_router(deployment), BOUND_S, "service again")
    assert sink.of("standby_promoted")[0]["mode"] == "offline"
    assert sink.of("warning")  # the live attempt's failure is on the timeline
    again = post_item(deployment, token, key)  # the write survived: a replay, same seq
    assert again["seq"] == seq


def test_complete_outage_and_cold_start(deployment: Deployment) -> None:
    killed = deployment.kill_all()
    assert len(killed) == len(processes(deployment))
    wait_until(lambda: not deployment.pids(), BOUND_S, "everything down")
    assert get_or_none(deployment.url, "/readyz", timeout_s=0.5) is None
    duration_s = deployment.cold_start()
    print(f"cold start: {duration_s:.3f}s")
    assert get_or_none(deployment.url, "/readyz") is not None
    assert set(deployment.pids()) == processes(deployment)


def test_stop_leaves_no_process_behind(deployment: Deployment, sink: Sink) -> None:
    deployment.stop()
    deployment.stop()  # idempotent
    assert marked_processes(deployment.id) == []
    state = json.loads((deployment.data_dir / "deployment.json").read_text())
    assert state["status"] == "stopped" and state["processes"] == []
    assert sink.events[-1]["kind"] == "topology_stopped"
