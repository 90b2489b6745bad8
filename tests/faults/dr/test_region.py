"""Regional Failure against a real deployment: region a blackholed at the router, traffic
fails over to b, the toxic removed at clear, traffic back on a."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from harness.faults import build_fault, clear_fault
from harness.faults.base import FaultContext
from harness.faults.dr.common import wait_until
from harness.scenarios import FaultSpec
from harness.topology.deployment import Deployment

from .conftest import BOUND_S, Injector, call, elapsed_since, events_of

pytestmark = pytest.mark.e2e


def test_a_blackholed_region_fails_over_and_back(
    deployment: Deployment, ctx: FaultContext, inject: Injector, admin: Callable[[], str]
) -> None:
    fault = build_fault(FaultSpec("regional_failure", params={"region": "a", "mode": "timeout"}))
    router = deployment.router
    assert wait_until(lambda: router.status()["active"] == "a", BOUND_S), "not on region a"
    started = time.monotonic()
    inject(fault)
    assert [t["name"] for t in router.list_toxics()] == ["regional-failure-a"]
    assert wait_until(lambda: router.status()["active"] == "b", BOUND_S), "no failover"
    failover_s = elapsed_since(started)
    # Region a's process is alive and well; only its link is cut, health checks included.
    assert "a-0" in deployment.pids()
    assert not router.status()["regions"]["a"]["healthy"]
    status, body = call(deployment, "GET", "/api/items/1", admin())
    assert status == 200, body
    clear_fault(fault, ctx)
    assert router.list_toxics() == []
    assert wait_until(lambda: router.status()["active"] == "a", BOUND_S), "no failback"
    print(f"regional_failure: failover after {failover_s}s")
    assert events_of(ctx, "fault_effect")[0]["region"] == "a"
    clear_fault(fault, ctx)  # clearing twice is safe
