"""scenarios/postgresql/: every file loads; the failover, corruption and outage scenarios
run for real against the Patroni cluster (slow: ~2 min each, select with -m slow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.faults import build_fault
from harness.scenarios import load_scenario

from .conftest import events, run_harness, summary

POSTGRES_SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "postgresql"
SHIPPED = ("database-failover", "database-failover-sync", "api-failure", "regional-failure",
           "complete-outage", "data-corruption", "security-breach")  # fmt: skip


def test_every_postgresql_scenario_loads_with_its_fault() -> None:
    assert sorted(p.stem for p in POSTGRES_SCENARIOS.glob("*.toml")) == sorted(SHIPPED)
    for name in SHIPPED:
        scenario = load_scenario(POSTGRES_SCENARIOS / f"{name}.toml")
        assert scenario.deployment.database == "postgresql", name
        build_fault(scenario.fault, name)
    sync = load_scenario(POSTGRES_SCENARIOS / "database-failover-sync.toml")
    assert sync.deployment.synchronous_replication


def run_pg(name: str, tmp_path: Path, *args: str) -> tuple[dict[str, Any], Path]:
    run_dir = tmp_path / name
    done = run_harness("scenario", str(POSTGRES_SCENARIOS / f"{name}.toml"), "--workers", "1",
                       "--out", str(run_dir), *args, timeout_s=400)  # fmt: skip
    assert done.code in (0, 1), done.out[-3000:] + done.err
    result = summary(run_dir)
    readback = events(run_dir, "readback")
    assert readback and readback[0]["ok"], readback
    recovery: dict[str, Any] = result["recovery"]
    assert recovery["acknowledged_writes"] > 0
    return recovery, run_dir


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.usefixtures("postgres_cluster_binaries")
def test_async_failover_loses_the_writes_the_lagged_replica_never_got(tmp_path: Path) -> None:
    recovery, run_dir = run_pg("database-failover", tmp_path, "--duration", "60s")
    promoted = [e for e in events(run_dir, "recovery_action") if e["action"] == "patroni_promote"]
    assert promoted and promoted[0]["ok"]
    assert recovery["rto_s"] is not None
    # 1 s of lag at ~10 writes/s: the writes of the last second before the loss are gone.
    assert recovery["lost_writes"] > 0 and recovery["rpo_s"] > 0


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.usefixtures("postgres_cluster_binaries")
def test_sync_failover_loses_no_acknowledged_write(tmp_path: Path) -> None:
    recovery, _ = run_pg("database-failover-sync", tmp_path, "--duration", "60s")
    assert recovery["lost_writes"] == 0 and recovery["rpo_s"] == 0
    assert recovery["rto_s"] is not None


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.usefixtures("postgres_cluster_binaries")
def test_corruption_is_found_by_checksums_and_repaired_by_pitr(tmp_path: Path) -> None:
    recovery, run_dir = run_pg("data-corruption", tmp_path)
    steps = {s["action"]: s for s in events(run_dir, "recovery_action")}
    assert steps["checksum_check"]["result"]["verdict"] == "corrupt"
    assert steps["pitr_restore"]["ok"] and recovery["rto_s"] is not None


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.usefixtures("postgres_cluster_binaries")
def test_complete_outage_cold_starts_the_cluster_without_loss(tmp_path: Path) -> None:
    recovery, _ = run_pg("complete-outage", tmp_path)
    assert recovery["lost_writes"] == 0 and recovery["rto_s"] is not None
