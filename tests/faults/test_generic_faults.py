"""The command and signal faults against real processes (loopback only, bounded)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.faults import FaultContext, FaultError, RecordingSink, build_fault, inject_fault
from harness.faults.generic import CommandFault, SignalFault
from harness.scenarios import FaultSpec
from harness.testing import wait_until


def proc_state(pid: int) -> str | None:
    """The one-letter state from /proc/PID/stat (R, S, T, Z, ...), None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def make(fault_type: str, **params: object) -> object:
    return build_fault(FaultSpec(type=fault_type, params=params), "test.toml")


@pytest.fixture
def ctx() -> FaultContext:
    return FaultContext(sink=RecordingSink())


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_command_runs_at_inject_and_revert_at_clear(tmp_path: Path, ctx: FaultContext) -> None:
    marker = tmp_path / "marker"
    fault = make("command", command=f"touch {marker}", revert=["rm", "-f", str(marker)])
    assert isinstance(fault, CommandFault)
    fault.inject(ctx)
    assert marker.exists()
    fault.clear(ctx)
    assert not marker.exists()
    assert "revert: rm -f" in fault.describe()


def test_command_env_and_cwd(tmp_path: Path, ctx: FaultContext) -> None:
    fault = make("command", command='echo "$GREETING" > out.txt', env={"GREETING": "hi"},
                 cwd=str(tmp_path))  # fmt: skip
    fault.inject(ctx)  # type: ignore[attr-defined]
    assert (tmp_path / "out.txt").read_text() == "hi\n"


def test_command_nonzero_exit_carries_the_stderr_tail(tmp_path: Path) -> None:
    sink = RecordingSink()
    ctx = FaultContext(sink=sink)
    marker = tmp_path / "reverted"
    fault = make("command", command="echo first >&2; echo 'boom: disk full' >&2; exit 7",
                 revert=f"touch {marker}")  # fmt: skip
    with pytest.raises(FaultError, match=r"exited with 7: first \| boom: disk full"):
        inject_fault(fault, ctx)  # type: ignore[arg-type]
    assert marker.exists(), "the rollback runs even though the injection failed"
    assert sink.kinds() == ["fault_failed", "fault_cleared"]


def test_command_timeout_kills_everything_it_started(tmp_path: Path, ctx: FaultContext) -> None:
    pid_file = tmp_path / "child.pid"
    fault = make("command", command=f"sleep 30 & echo $! > {pid_file}; wait", timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(FaultError, match=r"timed out after 0\.5s"):
        fault.inject(ctx)  # type: ignore[attr-defined]
    assert time.monotonic() - started < 15
    child = int(pid_file.read_text())
    wait_until(lambda: proc_state(child) in (None, "Z"))


def test_command_that_cannot_start(ctx: FaultContext) -> None:
    fault = make("command", command=["/nonexistent/tool", "--x"])
    with pytest.raises(FaultError, match="could not start"):
        fault.inject(ctx)  # type: ignore[attr-defined]


def test_signal_stop_then_continue(sleeper: subprocess.Popen[bytes], ctx: FaultContext) -> None:
    fault = make("signal", pid=sleeper.pid)
    assert isinstance(fault, SignalFault) and fault.clear_sig is not None
    fault.inject(ctx)
    wait_until(lambda: proc_state(sleeper.pid) == "T")
    fault.clear(ctx)
    wait_until(lambda: proc_state(sleeper.pid) in ("S", "R"))
    assert "SIGSTOP" in fault.describe() and "SIGCONT" in fault.describe()


def test_signal_by_pid_file_and_kill(
    sleeper: subprocess.Popen[bytes], ctx: FaultContext, tmp_path: Path
) -> None:
    pid_file = tmp_path / "service.pid"
    pid_file.write_text(f"{sleeper.pid}\n")
    fault = make("signal", pid_file=str(pid_file), signal="SIGKILL")
    assert isinstance(fault, SignalFault) and fault.clear_sig is None
    fault.inject(ctx)
    assert sleeper.wait(timeout=10) == -9
    fault.clear(ctx)  # nothing to undo after a kill


def test_signal_to_a_missing_process_fails_and_clear_is_safe(ctx: FaultContext) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=10)
    fault = make("signal", pid=proc.pid)
    with pytest.raises(FaultError, match=f"no process with pid {proc.pid}"):
        fault.inject(ctx)  # type: ignore[attr-defined]
    fault.clear(ctx)  # type: ignore[attr-defined]


def test_signal_clear_after_the_process_went_away_is_a_warning(
    sleeper: subprocess.Popen[bytes],
) -> None:
    sink = RecordingSink()
    ctx = FaultContext(sink=sink)
    fault = make("signal", pid=sleeper.pid)
    fault.inject(ctx)  # type: ignore[attr-defined]
    sleeper.kill()
    sleeper.wait(timeout=10)
    fault.clear(ctx)  # type: ignore[attr-defined]
    assert sink.kinds() == ["warning"]


def test_signal_pid_file_problems(tmp_path: Path, ctx: FaultContext) -> None:
    bad = tmp_path / "bad.pid"
    bad.write_text("not-a-pid")
    with pytest.raises(FaultError, match="not a pid"):
        make("signal", pid_file=str(bad)).inject(ctx)  # type: ignore[attr-defined]
    with pytest.raises(FaultError, match="cannot read pid file"):
        make("signal", pid_file=str(tmp_path / "none.pid")).inject(ctx)  # type: ignore[attr-defined]


def test_signal_group(ctx: FaultContext) -> None:
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], start_new_session=True)
    try:
        fault = make("signal", pid=leader.pid, group=True, signal="SIGTERM")
        fault.inject(ctx)  # type: ignore[attr-defined]
        assert leader.wait(timeout=10) != 0
        wait_until(lambda: not any(proc_state(p) in ("S", "R") for p in _group(leader.pid)))
    finally:
        if leader.poll() is None:
            os.killpg(leader.pid, 9)
            leader.wait(timeout=10)


def _group(pgid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                out.append(int(entry.name))
    return out
