"""The load engine's side of the run directory: run.json, intervals, events and ledger.

Everything is appended while the run goes and flushed at least every second (the engine
calls `flush()`), so a crash keeps everything up to its last second. See
docs/run-directory.md for the fields. No Locust import here.
"""

from __future__ import annotations

import platform
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.redaction import redact_argv, redact_strings, redact_text
from harness.rundir import SCHEMA_VERSION, JsonlAppender, RunDir, new_run_id, write_json_atomic
from harness.rundir.cpu import CpuSample
from harness.rundir.memory import MemorySample
from harness.rundir.writer import EventLog


@dataclass
class Manifest:
    """The fields of run.json; `write()` renders them."""

    run_id: str
    target: str
    embedded_service: bool
    workers_expected: int
    config: dict[str, Any]
    thresholds: list[str]
    planned_duration_s: float
    profile: str | None
    argv: list[str] = field(default_factory=list)
    kind: str = "run"
    scenario: str | None = None
    topology: dict[str, Any] | None = None
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    status: str = "running"
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """run.json's document, in the contract's field order."""
        return {
            "schema": SCHEMA_VERSION,
            "run_id": self.run_id,
            "kind": self.kind,
            "scenario": self.scenario,
            "profile": self.profile,
            "target": redact_text(self.target),
            "embedded_service": self.embedded_service,
            "topology": self.topology,
            "workers_expected": self.workers_expected,
            "host": socket.gethostname(),
            "versions": versions(),
            "argv": redact_argv(self.argv),  # never a secret in a run file
            "config": redact_strings(self.config),
            "thresholds": self.thresholds,
            "planned_duration_s": self.planned_duration_s,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "status": self.status,
            "error": self.error,
        }


def versions() -> dict[str, str]:
    """Versions of the harness, Locust (without importing it) and Python."""
    from importlib.metadata import PackageNotFoundError, version

    from harness import __version__

    try:
        locust_version = version("locust")
    except PackageNotFoundError:  # pragma: no cover - locust is a dependency
        locust_version = "unknown"
    return {"harness": __version__, "locust": locust_version, "python": platform.python_version()}


def prepare_run_dir(out_dir: Path | None, reports_dir: Path = Path("reports")) -> RunDir:
    """Create the run directory: `out_dir`, or `reports/<run-id>/`; refuse one holding a run."""
    path = out_dir if out_dir is not None else reports_dir / new_run_id()
    if path.exists() and not path.is_dir():
        raise ConfigError("expected a directory, found a file", f"--out {path}")
    if path.is_dir() and any(path.iterdir()):
        raise ConfigError("directory is not empty; expected a new or empty one", f"--out {path}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the directory: {exc.strerror}", f"--out {path}") from None
    return RunDir(path)


class RunJournal:
    """Appends to one run directory's files and rewrites its manifest."""

    def __init__(self, run_dir: RunDir, manifest: Manifest, events: EventLog | None = None) -> None:
        self.run_dir = run_dir
        self.manifest = manifest
        self._intervals = JsonlAppender(run_dir.intervals)
        # events.jsonl has one owner per run: the caller's log, or ours for a plain run
        self._owns_events = events is None
        self.events = events if events is not None else EventLog(run_dir.events)
        self._ledger = JsonlAppender(run_dir.ledger)
        self._memory = JsonlAppender(run_dir.memory)
        self._cpu = JsonlAppender(run_dir.cpu)
        self.ledger_count = 0
        # who follows the run as it is written (the live metrics)
        self.event_listeners = self.events.listeners
        self.interval_listeners: list[Callable[[dict[str, Any]], None]] = []
        write_json_atomic(run_dir.run_json, manifest.as_json())

    def event(self, kind: str, t: float | None = None, **fields: Any) -> None:
        """Append `{"t", "kind", ...fields}` to events.jsonl (redacted there)."""
        self.events.event(kind, t, **fields)

    def interval(self, line: dict[str, Any]) -> None:
        """Append one merged interval line."""
        self._intervals.append(line)
        for listener in self.interval_listeners:
            listener(line)

    def ledger(self, entries: Iterable[dict[str, Any]]) -> None:
        """Append acknowledged writes."""
        for entry in entries:
            self._ledger.append(entry)
            self.ledger_count += 1

    def memory(self, samples: Iterable[MemorySample]) -> None:
        """Append RSS samples (memory.jsonl)."""
        for sample in samples:
            self._memory.append(sample.to_dict())

    def cpu(self, samples: Iterable[CpuSample]) -> None:
        """Append generator CPU samples (cpu.jsonl)."""
        for sample in samples:
            self._cpu.append(sample.to_dict())

    def flush(self) -> None:
        """Push every appended line to the OS (called at least once a second)."""
        for appender in (self._intervals, self._ledger, self._memory, self._cpu):
            appender.flush()
        self.events.flush()

    def update_manifest(self, **fields: Any) -> None:
        """Change manifest fields (e.g. the target once the embedded service is up)."""
        for name, value in fields.items():
            setattr(self.manifest, name, value)
        write_json_atomic(self.run_dir.run_json, self.manifest.as_json())

    def finish(self, status: str, error: str | None = None) -> None:
        """Rewrite run.json with the end time and status, and close the files."""
        self.manifest.status = status
        self.manifest.error = error
        self.manifest.ended_at = time.time()
        for appender in (self._intervals, self._ledger, self._memory, self._cpu):
            appender.close()
        if self._owns_events:
            self.events.close()
        else:
            self.events.listeners.clear()  # the live metrics end with the load
        write_json_atomic(self.run_dir.run_json, self.manifest.as_json())
