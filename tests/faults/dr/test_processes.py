"""API Failure and Complete Outage against a real deployment: processes really killed,
the supervisor or a cold start brings them back, and no acknowledged write is lost."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from harness.faults import build_fault, clear_fault
from harness.faults.base import FaultContext
from harness.faults.dr.common import http_request, wait_until
from harness.faults.runbook import run_action
from harness.scenarios import FaultSpec
from harness.topology.deployment import Deployment

from .conftest import BOUND_S, Injector, elapsed_since, events_of, present_keys, ready, write_item

pytestmark = pytest.mark.e2e


def test_api_failure_kills_a_region_and_the_supervisor_restarts_it(
    deployment: Deployment, ctx: FaultContext, inject: Injector, admin: Callable[[], str]
) -> None:
    token = admin()
    key = f"before-kill-{uuid.uuid4()}"
    write_item(deployment, token, key)
    pids_before = deployment.pids()
    fault = build_fault(FaultSpec("api_failure", params={"region": "active"}))
    started = time.monotonic()
    inject(fault)
    # `active` is whichever region the router named at injection (a, unless a check of a
    # timed out just then): the fault waited for it to have one, and killed that one.
    effect = events_of(ctx, "fault_effect")[0]
    killed = deployment.regions[effect["region"]][0]
    assert effect["pids"] == [pids_before[killed.name]]
    # The process is really gone: its own port refuses until the supervisor restarts it.
    refused = http_request(killed.url, "GET", "/healthz", timeout_s=1.0)
    assert refused.status is None, refused
    assert wait_until(lambda: ready(deployment), BOUND_S), "router does not route around"
    routed_s = elapsed_since(started)
    assert wait_until(
        lambda: (
            deployment.pids().get(killed.name) not in (None, pids_before[killed.name])
            and http_request(killed.url, "GET", "/readyz", timeout_s=1.0).status == 200
        ),
        BOUND_S,
    ), f"{killed.name} not restarted"
    restarted_s = elapsed_since(started)
    clear_fault(fault, ctx)
    assert present_keys(deployment, token, [key]) == {key}  # RPO 0
    print(f"api_failure: routed around after {routed_s}s, {killed.name} back after {restarted_s}s")


def test_complete_outage_until_a_cold_start(
    deployment: Deployment, ctx: FaultContext, inject: Injector, admin: Callable[[], str]
) -> None:
    token = admin()
    key = f"before-outage-{uuid.uuid4()}"
    write_item(deployment, token, key)
    fault = build_fault(FaultSpec("complete_outage"))
    started = time.monotonic()
    inject(fault)
    assert wait_until(lambda: not deployment.pids(), BOUND_S), "processes still running"
    answer = http_request(deployment.url, "GET", "/readyz", timeout_s=1.0)
    assert answer.status is None, answer  # nothing listens on the router's port
    result = run_action("cold_start", {"timeout_s": 30}, ctx)
    waited = run_action("wait_ready", {"timeout_s": 10}, ctx)
    recovered_s = elapsed_since(started)
    front = {"haproxy"} if deployment.door is not None else set()
    assert set(deployment.pids()) == {"a-0", "b-0", "router", "replicator"} | front
    assert present_keys(deployment, token, [key]) == {key}  # synchronous=FULL: RPO 0
    clear_fault(fault, ctx)  # already serving: nothing to do
    actions = events_of(ctx, "recovery_action")
    assert [(a["action"], a["ok"]) for a in actions] == [("cold_start", True), ("wait_ready", True)]
    print(
        f"complete_outage: cold start {result['duration_s']}s, "
        f"ready {waited['ready_after_s']}s later, {recovered_s}s after injection"
    )


def test_complete_outage_clear_cold_starts_when_no_runbook_did(
    deployment: Deployment, ctx: FaultContext, inject: Injector
) -> None:
    fault = build_fault(FaultSpec("complete_outage"))
    inject(fault)
    assert wait_until(lambda: not deployment.pids(), BOUND_S)
    clear_fault(fault, ctx)
    assert ready(deployment)
