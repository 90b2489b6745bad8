"""`harness up` / `harness down` as a user runs them: a detached deployment, then nothing left."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.topology.processes import is_alive, marked_processes

from .conftest import get_or_none

pytestmark = pytest.mark.e2e


def harness(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=timeout_s, check=False)  # fmt: skip


def test_up_then_down_leaves_no_process_behind(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    started = harness("up", "--data-dir", data, "--port", "0", "--seed-items", "50")
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    state = json.loads((tmp_path / "data" / "deployment.json").read_text())
    deployment_id = state["id"]
    try:
        assert url == state["url"] and url.startswith("http://127.0.0.1:")
        assert get_or_none(url, "/readyz") is not None
        assert is_alive(state["owner"]["pid"]) and len(marked_processes(deployment_id)) >= 4
        again = harness("up", "--data-dir", data, "--port", "0")
        assert again.returncode == 2 and "already running" in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1
    finally:
        stopped = harness("down", "--data-dir", data)
    assert stopped.returncode == 0, stopped.stderr
    assert marked_processes(deployment_id) == [] and not is_alive(state["owner"]["pid"])
    assert get_or_none(url, "/readyz", timeout_s=0.5) is None
    repeat = harness("down", "--data-dir", data)
    assert repeat.returncode == 0 and "nothing running" in repeat.stderr


def test_down_without_a_deployment_is_bad_input(tmp_path: Path) -> None:
    result = harness("down", "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "nothing was started" in result.stderr


def test_a_busy_router_port_fails_in_one_line_and_cleans_up(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = harness("up", "--data-dir", str(tmp_path), "--port", str(port),
                         "--seed-items", "10")  # fmt: skip
    assert result.returncode == 3 and result.stdout == ""
    assert (
        len(result.stderr.strip().splitlines()) == 1 and "Address already in use" in result.stderr
    )
    state = json.loads((tmp_path / "deployment.json").read_text())
    assert state["status"] == "stopped" and marked_processes(state["id"]) == []
