"""The supervisor restarts processes that die, with growing backoff, and leaves held ones."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import RunFailed
from harness.testing import wait_until
from harness.topology.processes import ManagedProcess, ProcessRecord, is_alive, spawn
from harness.topology.supervisor import Supervisor

pytestmark = pytest.mark.e2e
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASHER = [sys.executable, "-c", "raise SystemExit(3)"]


class Events:
    """Collects supervisor events."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, kind: str, **fields: Any) -> None:
        self.seen.append({"kind": kind, **fields})

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.seen if e["kind"] == kind]


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Supervisor, Events, list[ManagedProcess]]]:
    events = Events()
    supervisor = Supervisor(events, poll_interval_s=0.05, backoff_initial_s=0.1)
    launched: list[ManagedProcess] = []
    yield supervisor, events, launched
    supervisor.hold(list(supervisor.watched))
    supervisor.stop()
    for process in launched:
        process.stop(timeout_s=2)


def launcher(argv: list[str], log: Path, launched: list[ManagedProcess]):  # type: ignore[no-untyped-def]
    def launch() -> ManagedProcess:
        process = spawn("p", argv, log)
        launched.append(process)
        return process

    return launch


def test_a_sigkilled_process_is_restarted_and_reported(
    supervised: tuple[Supervisor, Events, list[ManagedProcess]], tmp_path: Path
) -> None:
    supervisor, events, launched = supervised
    supervisor.watch("p", launcher(SLEEPER, tmp_path / "p.log", launched), lambda: True)
    first = supervisor.launch_now("p")
    supervisor.start()
    wait_until(lambda: bool(events.of("process_ready")), 5, "ready")
    assert supervisor.kill(["p"], signal.SIGKILL) == [first.pid]
    wait_until(lambda: len(events.of("process_ready")) == 2, 10, "restarted and ready")
    exited = events.of("process_exited")[0]
    assert exited["pid"] == first.pid and exited["signal"] == "SIGKILL"
    restarted = events.of("process_restarted")[0]
    assert restarted["pid"] != first.pid and is_alive(restarted["pid"])
    assert restarted["t"] >= exited["t"] and events.of("process_ready")[1]["since_exit_s"] > 0


def test_a_crash_loop_backs_off_and_a_held_process_stays_down(
    supervised: tuple[Supervisor, Events, list[ManagedProcess]], tmp_path: Path
) -> None:
    supervisor, events, launched = supervised
    supervisor.watch("p", launcher(CRASHER, tmp_path / "p.log", launched), lambda: True)
    supervisor.launch_now("p")
    supervisor.start()
    wait_until(lambda: len(events.of("process_restarted")) >= 3, 10, "three restarts")
    supervisor.hold(["p"])
    times = [e["t"] for e in events.of("process_restarted")[:3]]
    # backoff 0.1 s, then 0.2 s, then 0.4 s: the gaps grow
    assert times[2] - times[1] > times[1] - times[0] > 0.1
    assert all(e["returncode"] == 3 for e in events.of("process_exited"))
    held_count = len(events.of("process_restarted"))
    wait_until(lambda: launched[-1].poll() is not None, 5, "last one exits")
    supervisor.tick()
    assert len(events.of("process_restarted")) == held_count


def test_records_recognise_their_process_and_not_a_recycled_pid(tmp_path: Path) -> None:
    process = spawn("p", SLEEPER, tmp_path / "p.log", env={"HARNESS_DEPLOYMENT_ID": "t1"})
    try:
        record = process.record
        assert record.is_ours()
        same = ProcessRecord.from_json(record.to_json())
        assert same.is_ours()
        assert record.start_ticks is not None
        impostor = ProcessRecord("p", record.pid, record.start_ticks + 1, record.argv)
        assert not impostor.is_ours()
        other_marker = ProcessRecord("p", record.pid, record.start_ticks, record.argv, "t2")
        assert not other_marker.is_ours()
    finally:
        process.stop(timeout_s=2)
    assert not process.record.is_ours()


def test_taken_down_processes_stay_down_until_released_and_waited_ready(
    supervised: tuple[Supervisor, Events, list[ManagedProcess]], tmp_path: Path
) -> None:
    supervisor, events, launched = supervised
    supervisor.watch("p", launcher(SLEEPER, tmp_path / "p.log", launched), lambda: True)
    first = supervisor.launch_now("p")
    supervisor.start()
    supervisor.take_down(["p"])
    assert first.returncode is not None  # reaped, not just signalled
    supervisor.tick()
    assert not events.of("process_restarted")  # held
    supervisor.release(["p"])
    supervisor.wait_ready(["p"], 10.0)
    assert launched[-1].pid != first.pid and launched[-1].returncode is None


def test_waiting_strictly_fails_on_a_process_that_exits(
    supervised: tuple[Supervisor, Events, list[ManagedProcess]], tmp_path: Path
) -> None:
    supervisor, _events, launched = supervised
    supervisor.watch("p", launcher(CRASHER, tmp_path / "p.log", launched), lambda: False)
    supervisor.launch_now("p")
    with pytest.raises(RunFailed, match="p exited with code 3 while starting"):
        supervisor.wait_ready(["p"], 10.0, strict=True)
