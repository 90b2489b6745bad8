"""Generic faults on the local host: a command (with its revert) and a signal to a process.

The network ones (a webhook, a proxy toxic) are in `harness.faults.remote`. Each class
validates its `params` table in `from_params` (precise errors at load time), does the real
thing in `inject`, and undoes it in `clear`, which is safe to call whatever state `inject`
reached. See docs/scenarios.md for every parameter.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.faults.base import FaultContext, FaultError, tail
from harness.redaction import redact_text
from harness.toml_table import Table
from harness.topology.processes import is_alive


def _argv_or_shell(table: Table, key: str) -> tuple[str, ...] | str | None:
    """A command: a string (run by /bin/sh) or an array of strings (run directly)."""
    value = table.raw(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise table.error("expected a shell command (a string) or an argv array of strings", key)


def string_map(table: Table, key: str) -> Mapping[str, str]:
    """A table of strings (env, headers), empty when absent."""
    sub = table.table(key)
    if sub is None:
        return {}
    for name, value in sub.data.items():
        if not isinstance(value, str):
            raise sub.error("expected a string", name)
        sub.has(name)
    sub.finish()
    return dict(sub.data)


@dataclass(frozen=True)
class CommandFault:
    """Run a command at injection, and an optional `revert` command at clear.

    A non-zero exit or a timeout is a FaultError carrying the tail of stderr. The command
    runs in its own session, so a timeout kills everything it started. `revert` runs on
    every clear, even after a failed injection: write it to be idempotent.
    """

    command: tuple[str, ...] | str
    revert: tuple[str, ...] | str | None = None
    timeout_s: float = 30.0
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    type: str = "command"

    @classmethod
    def from_params(cls, params: Table) -> CommandFault:
        """Build from `[fault.params]`: command, revert, timeout_s, env, cwd."""
        command = _argv_or_shell(params, "command")
        if command is None:
            raise params.error("is required (a shell command or an argv array)", "command")
        return cls(
            command=command,
            revert=_argv_or_shell(params, "revert"),
            timeout_s=params.duration("timeout_s", 30.0),
            env=string_map(params, "env"),
            cwd=params.opt_string("cwd"),
        )

    def describe(self) -> str:
        """One line: the command (and its revert)."""
        text = f"command: {_show(self.command)}"
        return f"{text}; revert: {_show(self.revert)}" if self.revert else text

    def inject(self, ctx: FaultContext) -> None:
        """Run `command`; FaultError on a non-zero exit or timeout."""
        self._run(self.command, "command")

    def clear(self, ctx: FaultContext) -> None:
        """Run `revert` when there is one."""
        if self.revert is not None:
            self._run(self.revert, "revert")

    def _run(self, command: tuple[str, ...] | str, what: str) -> None:
        env = {**os.environ, **self.env} if self.env else None
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise FaultError(self.type, f"{what} could not start: {exc}") from None
        try:
            _, stderr = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            _, stderr = proc.communicate()
            raise FaultError(
                self.type, f"{what} timed out after {self.timeout_s:g}s: {tail(stderr)}"
            ) from None
        if proc.returncode != 0:
            raise FaultError(
                self.type, f"{what} exited with {proc.returncode}: {tail(stderr) or '(no stderr)'}"
            )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _show(command: tuple[str, ...] | str | None) -> str:
    """The command for events and the terminal, without tokens or URL secrets in it."""
    if command is None:
        return ""
    return redact_text(command if isinstance(command, str) else shlex.join(command))


def _signal_number(table: Table, key: str, default: str | None) -> signal.Signals | None:
    value = table.raw(key)
    if value is None:
        value = default
    if value is None or value == "none":
        return None
    if isinstance(value, str):
        name = value.upper() if value.upper().startswith("SIG") else f"SIG{value.upper()}"
        if name in signal.Signals.__members__:
            return signal.Signals[name]
    raise table.error(f'expected a signal name such as "SIGSTOP" or "none", got {value!r}', key)


_RESUME = {signal.SIGSTOP: "SIGCONT", signal.SIGTSTP: "SIGCONT"}


class SignalFault:
    """Send a signal to a process (by pid or pid file) at injection; another at clear.

    `clear_signal` defaults to SIGCONT after SIGSTOP/SIGTSTP, none otherwise (after
    SIGKILL, recovery is whoever restarts the process). With `group`, the whole process
    group is signalled. Clear signals only the process that injection signalled, and a
    process that has gone since is not an error (nothing left to resume).
    """

    type = "signal"

    def __init__(
        self,
        pid: int | None,
        pid_file: Path | None,
        sig: signal.Signals,
        clear_sig: signal.Signals | None,
        group: bool = False,
    ) -> None:
        self.pid = pid
        self.pid_file = pid_file
        self.sig = sig
        self.clear_sig = clear_sig
        self.group = group
        self._signalled: int | None = None

    @classmethod
    def from_params(cls, params: Table) -> SignalFault:
        """Build from `[fault.params]`: pid or pid_file, signal, clear_signal, group."""
        pid = params.integer("pid", 0, low=1) or None
        pid_file = params.opt_string("pid_file")
        if (pid is None) == (pid_file is None):
            raise params.error("expected exactly one of pid or pid_file", None)
        sig = _signal_number(params, "signal", "SIGSTOP")
        assert sig is not None
        clear_sig = _signal_number(params, "clear_signal", _RESUME.get(sig, "none"))
        group = params.boolean("group", False)
        return cls(pid, Path(pid_file) if pid_file else None, sig, clear_sig, group)

    def describe(self) -> str:
        """One line: which signal to which process."""
        who = f"pid {self.pid}" if self.pid is not None else f"pid file {self.pid_file}"
        text = f"signal: {self.sig.name} to {'group of ' if self.group else ''}{who}"
        return f"{text}; clear: {self.clear_sig.name}" if self.clear_sig else text

    def inject(self, ctx: FaultContext) -> None:
        """Resolve the pid and send the signal."""
        pid = self._resolve_pid()
        self._send(pid, self.sig)
        self._signalled = pid

    def clear(self, ctx: FaultContext) -> None:
        """Send the clear signal to the process injection signalled (if any, and alive)."""
        pid, self._signalled = self._signalled, None
        if pid is None or self.clear_sig is None:
            return
        try:
            self._send(pid, self.clear_sig)
        except FaultError:
            if is_alive(pid):
                raise
            ctx.emit("warning", message=f"signal fault: pid {pid} is gone; nothing to clear")

    def _resolve_pid(self) -> int:
        if self.pid is not None:
            return self.pid
        assert self.pid_file is not None
        try:
            text = self.pid_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise FaultError(self.type, f"cannot read pid file {self.pid_file}: {exc}") from None
        if not text.isdigit() or int(text) < 1:
            raise FaultError(self.type, f"pid file {self.pid_file} holds {text[:40]!r}, not a pid")
        return int(text)

    def _send(self, pid: int, sig: signal.Signals) -> None:
        try:
            if self.group:
                os.killpg(os.getpgid(pid), sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            raise FaultError(self.type, f"no process with pid {pid}") from None
        except PermissionError:
            raise FaultError(self.type, f"not allowed to signal pid {pid}") from None
