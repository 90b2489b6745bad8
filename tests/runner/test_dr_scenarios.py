"""The six shipped disaster-recovery scenarios, each run for real as shipped (its own
length, 30-45 s, one load worker) against the reference deployment, and their numbers
checked against what each failure must cost: no write lost when only processes, a region or
everything stops; writes lost for real when the asynchronous standby takes over or a backup
is restored; a leaked key that worked until it was contained, and never after.

The default suite runs two of them whole (Database Failover: automatic recovery, writes
really lost; Security Breach: a runbook, and figures only a scenario run measures); the
other four are `slow`. Their faults and recoveries run in the default suite too, on a shared
deployment, in tests/faults/dr/ (test_processes: API Failure and Complete Outage with its
cold-start runbook; test_region; test_corruption with the backup restore)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.rundir import iter_jsonl

from .conftest import events, run_harness, summary

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def run_shipped(name: str, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """Run scenarios/<name>.toml at its own length; its recovery figures and run directory."""
    run_dir = tmp_path / name
    done = run_harness("scenario", str(SCENARIOS / f"{name}.toml"), "--workers", "1",
                       "--out", str(run_dir), timeout_s=180)  # fmt: skip
    assert done.code in (0, 1), done.out[-3000:] + done.err
    result = summary(run_dir)
    recovery: dict[str, Any] = result["recovery"]
    assert result["status"] == "completed"
    assert [e["kind"] for e in events(run_dir, "fault_injected")] == ["fault_injected"]
    assert events(run_dir, "fault_cleared"), "the rollback always runs"
    readback = events(run_dir, "readback")
    assert readback and readback[0]["ok"], readback
    assert recovery["acknowledged_writes"] > 0
    return recovery, run_dir


@pytest.mark.e2e
@pytest.mark.slow
def test_api_failure_loses_no_write(tmp_path: Path) -> None:
    recovery, run_dir = run_shipped("api-failure", tmp_path)
    assert recovery["lost_writes"] == 0 and recovery["rpo_s"] == 0
    assert recovery["rto_s"] is not None
    # the deployment's service processes are sampled by name, restarted ones included
    memory = [json.loads(line) for line in (run_dir / "memory.jsonl").read_text().splitlines()]
    services = {m["process"].split()[0] for m in memory if m["role"] == "service"}
    assert {"a-0", "b-0"} <= services, services


@pytest.mark.e2e
@pytest.mark.slow
def test_regional_failure_loses_no_write(tmp_path: Path) -> None:
    recovery, run_dir = run_shipped("regional-failure", tmp_path)
    assert recovery["lost_writes"] == 0 and recovery["rpo_s"] == 0
    assert recovery["rto_s"] is not None
    assert any(e.get("to") == "b" for e in events(run_dir, "route_changed"))


@pytest.mark.e2e
@pytest.mark.slow
def test_complete_outage_loses_no_write_and_the_runbook_brings_it_back(tmp_path: Path) -> None:
    recovery, _ = run_shipped("complete-outage", tmp_path)
    assert recovery["lost_writes"] == 0 and recovery["rpo_s"] == 0
    assert recovery["rto_s"] is not None and recovery["outage_s"] > 0
    assert [step["action"] for step in recovery["runbook"]] == ["cold_start", "wait_ready"]
    assert all(step["ok"] for step in recovery["runbook"])


@pytest.mark.e2e
def test_database_failover_loses_the_writes_after_the_last_standby_sync(tmp_path: Path) -> None:
    recovery, run_dir = run_shipped("database-failover", tmp_path)
    promote = next(
        e for e in events(run_dir, "recovery_action") if e["action"] == "promote_standby"
    )
    # the standby promoted is the last sync that completed, which the promote step reads: a
    # sync already copying when the fault landed completes after it (the fault_effect event
    # still names the sync before), and that sync holds the writes acknowledged before it.
    # A 3 s standby lag under Moderate loses the writes acknowledged after that sync; a fault
    # that lands just after a sync on a slowed machine may find none to lose.
    synced_t, injected_t = promote["result"]["standby_last_sync_t"], recovery["t_injected"]
    assert synced_t >= events(run_dir, "fault_effect")[0]["standby_last_sync_t"]
    unsynced = [e for e in iter_jsonl(run_dir / "ledger.jsonl")
                if synced_t + 0.5 < e["t_ack"] < injected_t]  # fmt: skip
    assert recovery["lost_writes"] > 0 or not unsynced, (len(unsynced), synced_t, injected_t)
    # every lost write was acknowledged after the promoted sync began
    assert recovery["rpo_s"] <= injected_t - synced_t + 0.01
    assert recovery["rto_s"] is not None
    promoted = [s for s in recovery["runbook"] if s["action"] == "promote_standby"]
    assert promoted and promoted[0]["ok"]


@pytest.mark.e2e
@pytest.mark.slow
def test_data_corruption_restore_loses_the_writes_after_the_backup(tmp_path: Path) -> None:
    recovery, run_dir = run_shipped("data-corruption", tmp_path)
    restore = next(e for e in events(run_dir, "recovery_action") if e["action"] == "restore_backup")
    assert restore["ok"]
    discarded = restore["result"]["writes_discarded"]
    assert recovery["lost_writes"] > 0 and discarded > 0, "writes happened after the backup"
    assert recovery["lost_writes"] <= discarded
    # RTO is as measured: clients meet 404s on the items the restore lost (once per item)
    assert all(step["ok"] for step in recovery["runbook"])


@pytest.mark.e2e
def test_security_breach_is_contained(tmp_path: Path) -> None:
    recovery, run_dir = run_shipped("security-breach", tmp_path)
    assert recovery["unauthorized_ok"] > 0, "the leaked key worked before containment"
    assert recovery["forged_ok_after_containment"] == 0
    assert recovery["containment_s"] is not None
    summary = json.loads((run_dir / "summary.json").read_text())
    judged = {t["expr"]: t["ok"] for t in summary["thresholds"]}
    assert judged["forged_after_containment==0"] is True  # the gate holds the promise
    assert (run_dir / "attack.jsonl").is_file()
    refreshed = events(run_dir, "tokens_refreshed")
    assert refreshed and refreshed[0]["roles"] == ["admin", "service", "user", "viewer"]
