"""deployment.json: a live deployment blocks another start on its data dir, and `harness down`
only signals processes that are still the ones recorded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.errors import ConfigError, RunFailed
from harness.topology.deployment import Deployment, DeploymentConfig
from harness.topology.processes import spawn
from harness.topology.state import (
    is_running,
    read_deployment_state,
    stop_recorded,
    write_deployment_state,
)

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_data_dir_with_a_live_owner_refuses_a_second_start(tmp_path: Path) -> None:
    owner = spawn("owner", SLEEPER, tmp_path / "owner.log")
    try:
        state = {"id": "x", "status": "ready", "processes": [],
                 "owner": owner.record.to_json() | {"kind": "library"}}  # fmt: skip
        write_deployment_state(tmp_path, state)
        assert is_running(read_deployment_state(tmp_path))
        with pytest.raises(ConfigError, match="already running"):
            Deployment(DeploymentConfig(tmp_path)).start()
        with pytest.raises(RunFailed, match="stop it there"):
            stop_recorded(tmp_path)
    finally:
        owner.stop(timeout_s=2)
    assert not is_running(read_deployment_state(tmp_path))


def test_down_signals_recorded_processes_but_never_a_recycled_pid(tmp_path: Path) -> None:
    ours = spawn("a-0", SLEEPER, tmp_path / "a.log", env={"HARNESS_DEPLOYMENT_ID": "d1"})
    stranger = spawn("x", SLEEPER, tmp_path / "x.log")
    try:
        assert stranger.record.start_ticks is not None
        recycled = stranger.record.to_json() | {"start_ticks": stranger.record.start_ticks - 1}
        state = {"id": "d1", "status": "ready", "owner": None,
                 "processes": [ours.record.to_json(), recycled]}  # fmt: skip
        write_deployment_state(tmp_path, state)
        assert stop_recorded(tmp_path, timeout_s=5) == [ours.pid]
        assert ours.popen.wait(timeout=5) is not None
        assert stranger.poll() is None  # not ours any more: left alone
        assert read_deployment_state(tmp_path)["status"] == "stopped"  # type: ignore[index]
    finally:
        ours.stop(timeout_s=2)
        stranger.stop(timeout_s=2)


def test_bad_shapes_are_refused_before_anything_starts(tmp_path: Path) -> None:
    for bad in ({"regions": 0}, {"processes_per_region": 0}, {"standby_interval_s": 0},
                {"seed_items": -1}, {"router_port": 70000}):  # fmt: skip
        with pytest.raises(ConfigError):
            DeploymentConfig(tmp_path, **bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"no deployment\.json"):
        stop_recorded(tmp_path)
