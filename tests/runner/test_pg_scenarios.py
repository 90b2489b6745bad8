"""scenarios/postgresql/: every file loads and runs the open model; Regional Failure runs for
real against the Patroni cluster in the default suite (~50 s: the cluster's start, a 22 s
run), the failover, corruption and outage scenarios in `slow` (~2 min each, -m slow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.faults import build_fault
from harness.rundir import iter_jsonl
from harness.runner.profile import scenario_profile
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
        # open model: clients keep arriving through the outage; only the ramp-down is closed
        *held, ramp_down = scenario_profile(scenario).stages
        assert all(s.arrival is not None for s in held) and ramp_down.users == 0, name
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


def arrivals_during_fault(run_dir: Path) -> tuple[float, int, int]:
    """(seconds, starts made, starts dropped) from injection to clear, by the `(arrivals)`
    lines of intervals.jsonl (whole seconds inside the fault's hold)."""
    injected = events(run_dir, "fault_injected")[0]["t"]
    cleared = events(run_dir, "fault_cleared")[0]["t"]
    lines = [line for line in iter_jsonl(run_dir / "intervals.jsonl")
             if line["name"] == "(arrivals)" and injected <= line["t"] <= cleared - 1]  # fmt: skip
    made = sum(line["iterations"] for line in lines)
    return (
        float(len({line["t"] for line in lines})),
        made,
        sum(line["dropped_iterations"] for line in lines),
    )


def assert_open_model(run_dir: Path, rate_per_s: float) -> int:
    """The stored run's stages are arrival-rate (but the ramp-down), and starts kept coming
    due at the profile's rate while the fault held: made or dropped, none waited for a
    response. Returns the starts dropped during the fault."""
    stages = json.loads((run_dir / "run.json").read_text())["config"]["profile"]["stages"]
    assert [s["arrival"] is not None for s in stages] == [True] * (len(stages) - 1) + [False]
    seconds, made, dropped = arrivals_during_fault(run_dir)
    assert seconds >= 3, seconds
    # Poisson arrivals on a shared machine: well within 30% of the rate over several seconds
    assert made + dropped >= 0.7 * rate_per_s * seconds, (made, dropped, seconds)
    return dropped


@pytest.mark.e2e
@pytest.mark.usefixtures("postgres_cluster_binaries")
def test_regional_failure_meets_arriving_clients_and_loses_no_write(tmp_path: Path) -> None:
    recovery, run_dir = run_pg("regional-failure", tmp_path, "--duration", "22s")
    assert recovery["lost_writes"] == 0 and recovery["rto_s"] is not None
    assert any(e.get("to") == "b" for e in events(run_dir, "route_changed"))
    assert_open_model(run_dir, rate_per_s=50)


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.usefixtures("postgres_cluster_binaries")
def test_async_failover_loses_the_writes_the_lagged_replica_never_got(tmp_path: Path) -> None:
    recovery, run_dir = run_pg("database-failover", tmp_path, "--duration", "60s")
    # the ~10 s with no leader: 80 requests hang, and the clients arriving after them are
    # turned away and counted (200/s for ~10 s; most of them)
    assert assert_open_model(run_dir, rate_per_s=200) > 0
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
