"""Processes the deployment starts: each in its own session (so a signal reaches its whole
group, e.g. granian's worker children), logging to a file, identified by pid *and* start
time so that a recycled pid is never signalled, and waited on with deadlines.

Every process also carries `HARNESS_DEPLOYMENT_ID` in its environment, inherited by its
children; `marked_processes` finds them all, which is how `harness down` and the tests make
sure nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import RunFailed

MARKER_ENV = "HARNESS_DEPLOYMENT_ID"


def wait_for(
    predicate: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.02
) -> None:
    """Call `predicate` until it returns True; raise RunFailed naming `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise RunFailed(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(interval_s)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int) -> bool:
    """True when the pid exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def process_group(pid: int) -> int | None:
    """The process group id of a live process."""
    fields = _stat_fields(pid)
    return int(fields[2]) if fields and fields[0] not in ("Z", "X") else None


def cmdline(pid: int) -> list[str]:
    """The process's argv, empty when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def has_marker(pid: int, deployment_id: str) -> bool:
    """True when the process's environment carries `HARNESS_DEPLOYMENT_ID=deployment_id`."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{MARKER_ENV}={deployment_id}".encode() in environ.split(b"\0")


def marked_processes(deployment_id: str) -> list[int]:
    """Live processes (not this one) marked with `deployment_id`, children included."""
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and int(entry.name) != os.getpid()
        and has_marker(int(entry.name), deployment_id)
        and is_alive(int(entry.name))
    ]


def group_members(pgid: int) -> list[int]:
    """Live processes in process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and process_group(int(entry.name)) == pgid:
            members.append(int(entry.name))
    return members


@dataclass(frozen=True)
class ProcessRecord:
    """Who a process is: enough to find it again from another process and to be sure it is
    still the one we started (pid reuse) before signalling it."""

    name: str
    pid: int
    start_ticks: int | None
    argv: tuple[str, ...]
    marker: str | None = None

    def is_ours(self) -> bool:
        """True when the pid is alive, started when ours did (so not a recycled pid) and,
        for a deployment's process, carries its marker."""
        return (
            is_alive(self.pid)
            and start_ticks(self.pid) == self.start_ticks
            and (self.marker is None or has_marker(self.pid, self.marker))
        )

    def to_json(self) -> dict[str, Any]:
        """For deployment.json."""
        return {"name": self.name, "pid": self.pid, "start_ticks": self.start_ticks,
                "argv": list(self.argv), "marker": self.marker}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        """Inverse of `to_json`."""
        ticks = data.get("start_ticks")
        return cls(str(data["name"]), int(data["pid"]), None if ticks is None else int(ticks),
                   tuple(str(a) for a in data["argv"]), data.get("marker"))  # fmt: skip


def signal_group_of(record: ProcessRecord, sig: int) -> bool:
    """Signal the process group led by `record` if it is still ours; False when it is gone."""
    if not record.is_ours():
        return False
    try:
        os.killpg(record.pid, sig)
    except ProcessLookupError:
        return False
    return True


class ManagedProcess:
    """A child process started by `spawn`, leading its own process group."""

    def __init__(
        self,
        name: str,
        popen: subprocess.Popen[bytes],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self.started_t = time.time()
        argv = tuple(str(a) for a in popen.args)  # type: ignore[union-attr]
        marker = (env or {}).get(MARKER_ENV)
        self.record = ProcessRecord(name, popen.pid, start_ticks(popen.pid), argv, marker)

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """Exit status once reaped: negative for a signal, as in subprocess."""
        return self.popen.returncode

    def poll(self) -> int | None:
        """Reap the process if it has exited; its exit status or None."""
        return self.popen.poll()

    def signal(self, sig: int) -> None:
        """Signal the whole process group (the service's workers die with it)."""
        if self.popen.returncode is None or group_members(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM the group, SIGKILL it after `timeout_s`, reap; idempotent."""
        if self.popen.returncode is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout_s)
        self.kill_leftovers()
        return self.popen.returncode

    def kill_leftovers(self) -> None:
        """SIGKILL group members that outlived the leader (orphaned worker processes)."""
        if group_members(self.pid):
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            wait_for(lambda: not group_members(self.pid), 5.0, f"{self.name} group to exit")

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the process's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ManagedProcess:
    """Start `argv` in a new session, stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env.update(env or {})
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=full_env,
            cwd=cwd,
        )
    return ManagedProcess(name, popen, log_path, env)
