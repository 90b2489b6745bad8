"""Security Breach against a real deployment: the active key leaked and used to forge admin
tokens that read and destroy data; rotating, revoking the leaked kid and undoing the
forged writes contains it, and every forged request after that is refused."""

from __future__ import annotations

import time

import pytest

from harness.faults import build_fault, clear_fault
from harness.faults.base import FaultContext
from harness.faults.dr.attacker import DELETE, PATCH
from harness.faults.dr.breach import SecurityBreachFault
from harness.faults.dr.common import wait_until
from harness.faults.runbook import run_action
from harness.rundir import iter_jsonl
from harness.scenarios import FaultSpec
from harness.service.tokens import Keyring
from harness.topology.deployment import Deployment

from .conftest import BOUND_S, Injector, call, events_of, items_table

pytestmark = pytest.mark.e2e


def forged_ok(fault: SecurityBreachFault, *ops: str) -> bool:
    attacker = fault.attacker
    assert attacker is not None
    return any(r["ok"] and r["op"] in ops for r in attacker.records)


def test_a_leaked_key_is_used_then_contained_and_its_writes_undone(
    deployment: Deployment, ctx: FaultContext, inject: Injector
) -> None:
    keyring = Keyring(deployment.data_dir)
    leaked_kid = keyring.active_kid()
    user = keyring.issue("user", "legit-user", ttl_s=600)
    before = items_table(deployment)
    params = {"attack_rate_per_s": 40, "seed": 3, "max_duration_s": 30}
    fault = build_fault(FaultSpec("security_breach", params=params))
    assert isinstance(fault, SecurityBreachFault)
    started = time.monotonic()
    inject(fault)
    assert events_of(ctx, "fault_effect")[0]["leaked_kid"] == leaked_kid
    # The breach is real: forged admin tokens change and delete items, and read the log.
    assert wait_until(lambda: forged_ok(fault, PATCH) and forged_ok(fault, DELETE), BOUND_S)
    assert forged_ok(fault, "GET /admin/audit")
    assert items_table(deployment) != before
    run_action("rotate_keys", {}, ctx)
    assert call(deployment, "GET", "/api/me", user)[0] == 200  # retired key still verifies
    revoked = run_action("revoke_kid", {"kid": "leaked"}, ctx)
    assert revoked["revoked_kid"] == leaked_kid and revoked["active_kid"] != leaked_kid
    status, _ = call(deployment, "GET", "/api/me", user)
    assert status == 401  # legitimate tokens of the leaked key stop working too
    fresh = Keyring(deployment.data_dir).issue("user", "legit-user", ttl_s=600)
    assert call(deployment, "GET", "/api/me", fresh)[0] == 200
    undone = run_action("restore_attacker_changes", {}, ctx)
    t_contained = events_of(ctx, "recovery_action")[-1]["t"]
    contained_s = round(time.monotonic() - started, 3)
    assert undone["forged_writes"] >= 2 and undone["reverted"] >= 2
    assert items_table(deployment) == before  # every forged change undone, ids included
    # The attacker keeps trying; nothing it sends after containment gets through.
    attacker = fault.attacker
    assert attacker is not None
    assert wait_until(lambda: sum(r["t"] > t_contained for r in attacker.records) >= 10, BOUND_S)
    clear_fault(fault, ctx)
    records = list(iter_jsonl(ctx.run_dir / "attack.jsonl"))  # type: ignore[operator]
    assert records and all(set(r) >= {"t", "op", "ok", "status", "kid"} for r in records)
    after = [r for r in records if r["t"] > t_contained]
    assert after and all(r["status"] == 401 and not r["ok"] for r in after)
    stopped = events_of(ctx, "attack_stopped")[0]
    assert stopped["forged_requests"] == len(records) and stopped["forged_ok"] >= 3
    admin = keyring.issue("admin", "test-admin", ttl_s=600)
    status, audit = call(deployment, "GET", "/admin/audit?sub=runbook&limit=1000", admin)
    assert status == 200 and audit["count"] >= undone["reverted"]  # the undo is audited
    print(
        f"security_breach: contained {contained_s}s after the leak, "
        f"{stopped['forged_ok']} forged requests succeeded before, {len(after)} refused after"
    )
