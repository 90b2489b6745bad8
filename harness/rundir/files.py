"""The run directory's files: names, paths, and JSON / JSON-lines reading and writing.

Writers append JSON lines and flush them at least every second; readers tolerate a torn last
line, so a run cut short by a crash still reads up to its last complete record.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

RUN_JSON = "run.json"
INTERVALS = "intervals.jsonl"
EVENTS = "events.jsonl"
LEDGER = "ledger.jsonl"
SUMMARY = "summary.json"
REPORT = "report.html"
JUNIT = "junit.xml"
SCHEMA_VERSION = 1


def new_run_id(prefix: str = "run") -> str:
    """A sortable, unique-enough id: `run-20261126-101500-1a2b`."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{prefix}-{stamp}-{os.urandom(2).hex()}"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=False, default=_json_default)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: Path) -> Any:
    """Read one JSON document."""
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield each complete JSON line; a torn or corrupt line (a crash mid-write) is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


class JsonlAppender:
    """Appends JSON lines to one file; thread-safe; flushes on every `flush()` call.

    Callers flush at least once a second (the run directory's promise). Each line is
    written whole with a single write, so a crash can tear at most the last line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=_json_default) + "\n"
        with self._lock:
            self._fh.write(line)

    def flush(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory."""

    path: Path

    @property
    def run_json(self) -> Path:
        return self.path / RUN_JSON

    @property
    def intervals(self) -> Path:
        return self.path / INTERVALS

    @property
    def events(self) -> Path:
        return self.path / EVENTS

    @property
    def ledger(self) -> Path:
        return self.path / LEDGER

    @property
    def memory(self) -> Path:
        return self.path / "memory.jsonl"

    @property
    def cpu(self) -> Path:
        return self.path / "cpu.jsonl"

    @property
    def cache(self) -> Path:
        return self.path / "cache.jsonl"

    @property
    def cache_policy(self) -> Path:
        return self.path / "cache-policy.json"

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY

    @property
    def report(self) -> Path:
        return self.path / REPORT

    @property
    def junit(self) -> Path:
        return self.path / JUNIT

    def exists(self) -> bool:
        """True when the folder looks like a run directory (it has run.json)."""
        return self.run_json.is_file()
