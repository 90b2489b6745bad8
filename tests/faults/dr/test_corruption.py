"""Data Corruption against a real deployment: pages of the items table overwritten in the
live file, found by the integrity check, repaired from the latest good backup, and exactly
the writes after that backup lost."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable

import pytest

from harness.faults import build_fault, clear_fault
from harness.faults.base import FaultContext
from harness.faults.dr.common import integrity_problems, wait_until
from harness.faults.runbook import run_action
from harness.scenarios import FaultSpec
from harness.service import replication
from harness.topology.deployment import Deployment

from .conftest import (
    BOUND_S,
    Injector,
    call,
    elapsed_since,
    events_of,
    items_table,
    present_keys,
    wait_fresh,
    write_item,
)

pytestmark = pytest.mark.e2e


def newest_backup_seq(deployment: Deployment) -> int | None:
    backups = replication.list_backups(deployment.data_dir)
    return backups[-1].seq if backups else None


def test_corrupted_pages_are_found_and_restored_from_the_backup(
    deployment: Deployment, ctx: FaultContext, inject: Injector, admin: Callable[[], str]
) -> None:
    token = admin()
    kept, lost = f"kept-{uuid.uuid4()}", f"lost-{uuid.uuid4()}"
    kept_seq = write_item(deployment, token, kept)
    # A backup holding the first write has just been taken; the next is 3 s away.
    assert wait_until(lambda: (newest_backup_seq(deployment) or 0) >= kept_seq, BOUND_S)
    wait_fresh(lambda: replication.list_backups(deployment.data_dir)[-1].path)
    lost_seq = write_item(deployment, token, lost)
    fault = build_fault(FaultSpec("data_corruption", params={"pages": 6, "seed": 7}))
    started = time.monotonic()
    inject(fault)
    effect = events_of(ctx, "fault_effect")[0]
    assert len(effect["pages"]) == 6 and 1 not in effect["pages"]
    assert "items" in effect["owners"].values()
    # The damage is real: reading the table fails, in SQLite and through the service.
    with pytest.raises(sqlite3.DatabaseError):
        items_table(deployment)
    status, _ = call(deployment, "GET", "/api/items?limit=1000&sort=id", token)
    assert status == 503
    found = run_action("integrity_check", {}, ctx)
    assert not found["sound"] and events_of(ctx, "detection")[0]["by"] == "integrity_check"
    restored = run_action("restore_backup", {}, ctx)
    run_action("wait_ready", {"timeout_s": 10}, ctx)
    recovered_s = elapsed_since(started)
    assert kept_seq <= restored["backup_seq"] < lost_seq
    assert restored["mode"] == "live" and restored["writes_discarded"] >= 1
    assert integrity_problems(deployment.data_dir / "items.db") == []
    status, body = call(deployment, "GET", "/api/items?limit=1000&sort=id", token)
    assert status == 200, body
    assert present_keys(deployment, token, [kept, lost]) == {kept}  # lost: after the backup
    clear_fault(fault, ctx)  # sound again: nothing to do
    assert [e["action"] for e in events_of(ctx, "recovery_action")] == [
        "integrity_check",
        "restore_backup",
        "wait_ready",
    ]
    print(f"data_corruption: restored and serving {recovered_s}s after injection")
