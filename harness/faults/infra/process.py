"""The `process` fault: signal real processes, found the way an operator finds them.

    [fault]
    type = "process"
    params = { pattern = "gunicorn: master \\[orders\\]", signal = "SIGKILL",
               restart = "systemctl start orders" }

Exactly one of `pid_file` (a file holding the pid), `pattern` (a regular expression searched
in each process's command line, arguments joined by spaces; the harness's own process and
its ancestors never match) or `unit` (a systemd unit, signalled with `systemctl kill`, only
where systemd runs). `signal` defaults to SIGKILL. At clear: `restart` (a command, as the
`command` fault's) when given, else SIGCONT to what was stopped when the signal was SIGSTOP
or SIGTSTP, else nothing (`clear_signal` overrides). Finding no process is a FaultError.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.faults.base import FaultContext, FaultError, tail
from harness.faults.generic import CommandFault, _argv_or_shell, _signal_number
from harness.toml_table import Table
from harness.topology.processes import cmdline, is_alive

_RESUME = {signal.SIGSTOP: "SIGCONT", signal.SIGTSTP: "SIGCONT"}
SYSTEMD_RUNTIME = Path("/run/systemd/system")
SYSTEMCTL_TIMEOUT_S = 30.0


def systemd_running() -> bool:
    """True where systemd is PID 1 (its runtime directory exists)."""
    return SYSTEMD_RUNTIME.is_dir()


@dataclass
class ProcessFault:
    """Signal the processes a pid file, a pattern or a unit names (see the module docstring)."""

    sig: signal.Signals
    clear_sig: signal.Signals | None
    pid_file: Path | None = None
    pattern: re.Pattern[str] | None = None
    unit: str | None = None
    restart: CommandFault | None = None
    type: str = "process"

    def __post_init__(self) -> None:
        self._signalled: list[int] = []

    @classmethod
    def from_params(cls, params: Table) -> ProcessFault:
        """Build from `[fault.params]`: pid_file | pattern | unit, signal, clear_signal,
        restart, restart_timeout_s."""
        pid_file, pattern, unit = (params.opt_string(k) for k in ("pid_file", "pattern", "unit"))
        if sum(v is not None for v in (pid_file, pattern, unit)) != 1:
            raise params.error("expected exactly one of pid_file, pattern or unit", None)
        compiled = None
        if pattern is not None:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise params.error(f"not a valid regular expression: {exc}", "pattern") from None
        if unit is not None and not systemd_running():
            raise params.error("systemd is not running on this machine (no systemctl kill)",
                               "unit")  # fmt: skip
        sig = _signal_number(params, "signal", "SIGKILL")
        assert sig is not None
        clear_sig = _signal_number(params, "clear_signal", _RESUME.get(sig, "none"))
        restart_command = _argv_or_shell(params, "restart")
        timeout_s = params.duration("restart_timeout_s", 30.0)
        restart = None
        if restart_command is not None:
            restart = CommandFault(restart_command, timeout_s=timeout_s, type="process")
        return cls(sig, clear_sig, Path(pid_file) if pid_file else None, compiled, unit, restart)

    def describe(self) -> str:
        """One line: the signal, the processes, the revert."""
        if self.pid_file is not None:
            who = f"the pid in {self.pid_file}"
        elif self.pattern is not None:
            who = f"processes matching /{self.pattern.pattern}/"
        else:
            who = f"systemd unit {self.unit}"
        text = f"process: {self.sig.name} to {who}"
        if self._signalled:
            text += f" (pids {', '.join(map(str, self._signalled))})"
        if self.restart is not None:
            return f"{text}; clear: restart ({self.restart.describe().removeprefix('command: ')})"
        return f"{text}; clear: {self.clear_sig.name}" if self.clear_sig else text

    def inject(self, ctx: FaultContext) -> None:
        """Find the processes and signal them; FaultError when none is found."""
        if self.unit is not None:
            self._systemctl_kill(self.sig)
            return
        pids = self.find()
        for pid in pids:
            try:
                os.kill(pid, self.sig)
            except ProcessLookupError:
                continue  # gone between the search and the signal
            except PermissionError:
                raise FaultError(self.type, f"not allowed to signal pid {pid}") from None
            self._signalled.append(pid)
        if not self._signalled:
            raise FaultError(self.type, "every matching process was gone before the signal")

    def clear(self, ctx: FaultContext) -> None:
        """Run `restart`, or send the clear signal to what injection signalled (alive)."""
        signalled, self._signalled = self._signalled, []
        if self.restart is not None:
            self.restart.inject(ctx)
            return
        if self.clear_sig is None:
            return
        if self.unit is not None:
            self._systemctl_kill(self.clear_sig)
            return
        for pid in signalled:
            if is_alive(pid):
                try:
                    os.kill(pid, self.clear_sig)
                except ProcessLookupError:
                    continue

    def find(self) -> list[int]:
        """The pids to signal now; FaultError when there is none."""
        if self.pid_file is not None:
            return [self._pid_from_file(self.pid_file)]
        assert self.pattern is not None
        spared = _self_and_ancestors()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in spared:
                continue
            pid = int(entry.name)
            if is_alive(pid) and self.pattern.search(" ".join(cmdline(pid))):
                found.append(pid)
        if not found:
            raise FaultError(self.type, f"no process matches /{self.pattern.pattern}/")
        return sorted(found)

    def _pid_from_file(self, path: Path) -> int:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise FaultError(self.type, f"cannot read pid file {path}: {exc}") from None
        if not text.isdigit() or int(text) < 1:
            raise FaultError(self.type, f"pid file {path} holds {text[:40]!r}, not a pid")
        if not is_alive(int(text)):
            raise FaultError(self.type, f"no process with pid {text} (from {path})")
        return int(text)

    def _systemctl_kill(self, sig: signal.Signals) -> None:
        argv = ["systemctl", "kill", f"--signal={sig.name}", "--", str(self.unit)]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=SYSTEMCTL_TIMEOUT_S,
                                  check=False)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FaultError(self.type, f"systemctl kill failed: {exc}") from None
        if done.returncode != 0:
            raise FaultError(self.type, f"systemctl kill exited with {done.returncode}: "
                             f"{tail(done.stderr) or '(no stderr)'}")  # fmt: skip


def _self_and_ancestors() -> set[int]:
    """This process and every ancestor: a pattern naming the harness must not kill it."""
    spared = {os.getpid()}
    pid = os.getppid()
    while pid > 1 and pid not in spared:
        spared.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return spared
