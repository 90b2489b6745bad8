"""`<data_dir>/deployment.json`: who runs the deployment, and how another process stops it.

The file names every process the deployment started (pid, start time, argv, marker), the
process that owns it (`harness up`'s daemon, or a library caller such as a scenario run), the
router's URL and the status (`starting`, `ready`, `stopped`). It is rewritten atomically
whenever a pid changes (a restart), so `harness down` always sees the current processes.

Before signalling a pid, `stop_recorded` checks that it is still the process that was started
(same start time, same deployment marker); it then sweeps every process that still carries the
deployment's marker in its environment (granian's workers included).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, RunFailed
from harness.rundir import read_json, write_json_atomic
from harness.topology.processes import (
    ProcessRecord,
    cmdline,
    marked_processes,
    signal_group_of,
    start_ticks,
    wait_for,
)

STATE_FILE = "deployment.json"


def state_path(data_dir: Path) -> Path:
    """Where the deployment's state lives."""
    return data_dir / STATE_FILE


def read_deployment_state(data_dir: Path) -> dict[str, Any] | None:
    """The recorded state, or None when no deployment was ever started in `data_dir`."""
    path = state_path(data_dir)
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except ValueError as exc:
        raise ConfigError(f"unreadable ({exc})", str(path)) from None
    return data if isinstance(data, dict) else None


def write_deployment_state(data_dir: Path, state: Mapping[str, Any]) -> None:
    """Replace the state file atomically."""
    write_json_atomic(state_path(data_dir), dict(state) | {"schema": 1, "updated_t": time.time()})


def this_process(kind: str) -> dict[str, Any]:
    """The owner record for the calling process."""
    pid = os.getpid()
    record = ProcessRecord("owner", pid, start_ticks(pid), tuple(cmdline(pid)))
    return record.to_json() | {"kind": kind}


def live_owner(state: Mapping[str, Any]) -> ProcessRecord | None:
    """The owning process when it is still alive (and is the same process), else None."""
    owner = state.get("owner")
    if not isinstance(owner, dict):
        return None
    record = ProcessRecord.from_json(owner)
    return record if record.is_ours() and record.pid != os.getpid() else None


def is_running(state: Mapping[str, Any] | None) -> bool:
    """True when a recorded deployment is not stopped and still has a live process."""
    if state is None or state.get("status") == "stopped":
        return False
    return live_owner(state) is not None or bool(marked_processes(str(state.get("id"))))


def stop_recorded(data_dir: Path, timeout_s: float = 15.0) -> list[int]:
    """Stop the deployment recorded in `data_dir` from any process; returns pids signalled.

    A daemon owner (`harness up`) gets SIGTERM and stops everything itself; then every recorded
    process still ours gets SIGTERM, SIGKILL after `timeout_s / 3`, and any process still
    carrying the marker gets SIGKILL. Refuses (RunFailed) when a live library caller owns it.
    """
    state = read_deployment_state(data_dir)
    if state is None:
        raise ConfigError(f"no {STATE_FILE} here: nothing was started with this data dir",
                          str(data_dir))  # fmt: skip
    deployment_id = str(state["id"])
    signalled: list[int] = []
    owner = live_owner(state)
    if owner is not None:
        if state.get("owner", {}).get("kind") != "daemon":
            raise RunFailed(f"the deployment is run by process {owner.pid} "
                            f"({' '.join(owner.argv)[:80]}); stop it there")  # fmt: skip
        os.kill(owner.pid, signal.SIGTERM)
        signalled.append(owner.pid)
        wait_for(lambda: not owner.is_ours(), timeout_s, f"deployment owner {owner.pid} to stop")
    records = [ProcessRecord.from_json(p) for p in state.get("processes", [])]
    signalled += [r.pid for r in records if signal_group_of(r, signal.SIGTERM)]
    try:
        wait_for(lambda: not any(r.is_ours() for r in records), timeout_s / 3, "processes to exit")
    except RunFailed:
        for record in records:
            signal_group_of(record, signal.SIGKILL)
    for pid in marked_processes(deployment_id):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not marked_processes(deployment_id), timeout_s, "every process to exit")
    write_deployment_state(data_dir, dict(state) | {"status": "stopped"})
    return signalled
