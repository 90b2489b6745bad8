"""The supervisor: restarts crashed processes of the deployment, with backoff, as events.

A thread polls every process it watches (`Popen.poll`, i.e. waitpid, every `poll_interval_s`).
When one has exited it records `process_exited`, kills what is left of its process group
(granian's orphaned workers would keep the port), and after a backoff starts it again with the
same command and port: `process_restarted`, then `process_ready` once its readiness probe
passes. The backoff doubles with each crash in a row, from `backoff_initial_s` up to
`backoff_max_s`, and resets once a process has stayed up `stable_after_s`.

A *held* process is not restarted: `hold` is how a fault keeps a region down on purpose and how
the deployment stops things without the supervisor fighting it; `release` lets it come back.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from harness.errors import RunFailed
from harness.topology.processes import ManagedProcess, wait_for

EventSink = Callable[..., None]


@dataclass
class Watched:
    """One supervised process and what the supervisor knows of it."""

    name: str
    launch: Callable[[], ManagedProcess]
    ready: Callable[[], bool]
    fields: dict[str, Any]
    process: ManagedProcess | None = None
    held: bool = False
    is_ready: bool = False
    crashes_in_row: int = 0
    restarts: int = 0
    exited_t: float | None = None
    restart_at: float | None = None


class Supervisor:
    """Watches processes in a background thread and restarts the ones that die."""

    def __init__(
        self,
        on_event: EventSink,
        *,
        poll_interval_s: float = 0.1,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        stable_after_s: float = 10.0,
    ) -> None:
        self.on_event = on_event
        self.poll_interval_s = poll_interval_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stable_after_s = stable_after_s
        self.watched: dict[str, Watched] = {}
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_change: Callable[[], None] = lambda: None

    def watch(
        self,
        name: str,
        launch: Callable[[], ManagedProcess],
        ready: Callable[[], bool],
        process: ManagedProcess | None = None,
        **fields: Any,
    ) -> Watched:
        """Supervise `name`; `launch` (re)starts it, `ready` says when it serves again."""
        with self.lock:
            entry = Watched(name, launch, ready, fields, process, is_ready=process is not None)
            self.watched[name] = entry
            return entry

    def start(self) -> None:
        """Start the watching thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop watching (processes are left as they are)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def hold(self, names: Iterable[str]) -> None:
        """Do not restart these processes until `release`."""
        with self.lock:
            for name in names:
                self.watched[name].held = True

    def release(self, names: Iterable[str]) -> None:
        """Restart these processes again when they are down (at once: no backoff)."""
        with self.lock:
            for name in names:
                entry = self.watched[name]
                entry.held = False
                entry.crashes_in_row = 0
                if entry.process is None or entry.process.returncode is not None:
                    entry.restart_at = time.monotonic()

    def launch_now(self, name: str) -> ManagedProcess:
        """Start a watched process that is not running, now, in the caller's thread."""
        with self.lock:
            entry = self.watched[name]
            entry.process = entry.launch()
            entry.is_ready = False
            entry.restart_at = None
            self._emit("process_started", entry, pid=entry.process.pid)
            self.on_change()
            return entry.process

    def kill(self, names: Iterable[str], sig: int = signal.SIGKILL) -> list[int]:
        """Signal these processes' groups (a fault); returns the pids signalled."""
        pids = []
        with self.lock:
            for name in names:
                entry = self.watched[name]
                process = entry.process
                if process is not None and process.returncode is None:
                    process.signal(sig)
                    pids.append(process.pid)
                    self._emit("process_killed", entry, pid=process.pid, signal=_signame(sig))
        return pids

    def take_down(self, names: Iterable[str]) -> None:
        """Hold these processes, SIGKILL them and reap them: they stay down until `release`."""
        names = list(names)
        self.hold(names)
        self.kill(names, signal.SIGKILL)
        for name in names:
            process = self.watched[name].process
            if process is not None:
                process.stop(timeout_s=5.0)

    def wait_ready(self, names: Iterable[str], timeout_s: float, *, strict: bool = False) -> None:
        """Wait until every named process answers its readiness probe. `strict`: a process
        that exits meanwhile is an error (at start); otherwise it is restarted meanwhile."""
        pending = list(names)

        def ready() -> bool:
            for name in list(pending):
                entry = self.watched[name]
                process = entry.process
                if strict and process is not None and process.poll() is not None:
                    raise RunFailed(f"{name} exited with code {process.returncode} while "
                                    f"starting: {process.log_tail()}")  # fmt: skip
                if process is not None and process.returncode is None and entry.ready():
                    pending.remove(name)
            return not pending

        wait_for(ready, timeout_s, f"{', '.join(pending)} to be ready", interval_s=0.05)

    def tick(self) -> None:
        """One pass over every watched process (the thread calls this every poll interval)."""
        with self.lock:
            for entry in self.watched.values():
                self._tick_one(entry, time.monotonic())

    def _tick_one(self, entry: Watched, now: float) -> None:
        process = entry.process
        if process is not None and process.returncode is None:
            code = process.poll()
            if code is None:
                if not entry.is_ready and entry.ready():
                    entry.is_ready = True
                    since = None if entry.exited_t is None else time.time() - entry.exited_t
                    self._emit("process_ready", entry, pid=process.pid, since_exit_s=since)
                if entry.is_ready and time.time() - process.started_t > self.stable_after_s:
                    entry.crashes_in_row = 0
                return
            self._on_exit(entry, process, code, now)
        if entry.held or entry.restart_at is None or now < entry.restart_at:
            return
        try:
            entry.process = entry.launch()
        except OSError as exc:
            entry.restart_at = now + self.backoff_max_s
            self._emit("error", entry, message=f"cannot restart {entry.name}: {exc}")
            return
        entry.is_ready = False
        entry.restart_at = None
        entry.restarts += 1
        self._emit("process_restarted", entry, pid=entry.process.pid, restarts=entry.restarts)
        self.on_change()

    def _on_exit(self, entry: Watched, process: ManagedProcess, code: int, now: float) -> None:
        entry.exited_t = time.time()
        entry.is_ready = False
        process.kill_leftovers()
        signal_name = _signame(-code) if code < 0 else None
        self._emit("process_exited", entry, pid=process.pid, returncode=code, signal=signal_name)
        entry.crashes_in_row += 1
        backoff_s = min(
            self.backoff_max_s, self.backoff_initial_s * 2 ** (entry.crashes_in_row - 1)
        )
        entry.restart_at = now + backoff_s
        self.on_change()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            try:
                self.tick()
            except Exception as exc:  # loud: an event, then keep supervising
                self.on_event("error", message=f"supervisor: {type(exc).__name__}: {exc}")

    def _emit(self, kind: str, entry: Watched, **fields: Any) -> None:
        self.on_event(kind, t=time.time(), process=entry.name, **entry.fields, **fields)


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)
