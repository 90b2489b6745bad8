"""Database Failover against a real deployment: the primary's pages destroyed under the
running service, the watcher promotes the standby, and exactly the writes acknowledged
after the standby's last sync are lost."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from harness.faults import build_fault, clear_fault
from harness.faults.base import FaultContext
from harness.faults.dr.common import http_request, probe_database, wait_until
from harness.scenarios import FaultSpec
from harness.topology.deployment import Deployment

from .conftest import (
    BOUND_S,
    Injector,
    call,
    elapsed_since,
    events_of,
    kinds,
    present_keys,
    ready,
    wait_fresh,
    write_item,
)

pytestmark = pytest.mark.e2e
ITEM = {"category": "dr-test", "price": 1.0, "quantity": 1}


def test_destroyed_primary_fails_over_to_the_standby(
    deployment: Deployment, ctx: FaultContext, inject: Injector, admin: Callable[[], str]
) -> None:
    token = admin()
    kept, lost = f"kept-{uuid.uuid4()}", f"lost-{uuid.uuid4()}"
    kept_seq = write_item(deployment, token, kept)
    assert wait_until(
        lambda: (deployment.replication_state().last_sync_seq or 0) >= kept_seq, BOUND_S
    ), "the first write never reached the standby"
    # Right after a sync, the next one is a standby interval (1 s) away: the second write
    # is acknowledged, then the primary is destroyed before any sync can copy it.
    wait_fresh(lambda: deployment.replication_state().last_sync_t)
    lost_seq = write_item(deployment, token, lost)
    fault = build_fault(FaultSpec("database_failover", params={"method": "destroy_pages"}))
    started = time.monotonic()
    inject(fault)
    effect = events_of(ctx, "fault_effect")[0]
    assert kept_seq <= effect["standby_last_sync_seq"] < lost_seq
    # The loss is real: the file no longer opens, and every service process's readiness
    # check (it reads the header from the file) fails at once. A process that wrote last
    # may still answer from its page cache until its connection is dropped (the router's
    # next health check does that), so the first write after the loss may even be
    # acknowledged, and lost; soon every write fails.
    assert probe_database(deployment.data_dir / "items.db") is not None
    for process in (deployment.regions["a"][0], deployment.regions["b"][0]):
        assert http_request(process.url, "GET", "/readyz").status == 503
    assert wait_until(
        lambda: call(deployment, "POST", "/api/items", token, {**ITEM, "name": "x"})[0] == 503,
        BOUND_S,
    ), "writes still accepted"
    assert wait_until(lambda: bool(events_of(ctx, "recovery_action")), BOUND_S), "no promotion"
    promoted_s = elapsed_since(started)
    assert wait_until(lambda: ready(deployment), BOUND_S), "not serving after the promotion"
    ready_s = elapsed_since(started)
    action = events_of(ctx, "recovery_action")[0]
    assert action["action"] == "promote_standby" and action["ok"] and action["automatic"]
    assert action["result"]["mode"] == "offline"  # a destroyed file cannot take a live restore
    assert kinds(ctx).index("detection") < kinds(ctx).index("recovery_action")
    assert present_keys(deployment, token, [kept, lost]) == {kept}  # RPO: the lost one
    clear_fault(fault, ctx)
    assert probe_database(deployment.data_dir / "items.db") is None
    print(f"database_failover: promoted {promoted_s}s after injection, serving at {ready_s}s")
