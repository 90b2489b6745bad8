"""`harness up --database postgresql` / `harness down`, also after the harness crashed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.topology.processes import is_alive, marked_processes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def harness(*args: str, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=timeout_s, check=False)  # fmt: skip


@pytest.mark.usefixtures("postgres_cluster_binaries")
def test_down_stops_the_whole_cluster_after_the_daemon_was_killed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    started = harness("up", "--database", "postgresql", "--data-dir", str(data), "--port", "0",
                      "--seed-items", "50")  # fmt: skip
    assert started.returncode == 0, started.stderr
    state = json.loads((data / "deployment.json").read_text())
    roles = {p["role"] for p in state["processes"]}
    assert "postgres" in roles and state["postgres"].startswith("127.0.0.1:")
    marked = marked_processes(state["id"])
    assert len(marked) >= 10  # services, router, etcd, 2 Patroni, 2 links, HAProxy, postgres
    os.kill(state["owner"]["pid"], signal.SIGKILL)  # the harness crashes

    stopped = harness("down", "--data-dir", str(data))

    assert stopped.returncode == 0, stopped.stderr
    assert marked_processes(state["id"]) == []
    assert not any(is_alive(pid) for pid in marked)
