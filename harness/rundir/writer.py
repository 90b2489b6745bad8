"""`EventLog`: the one owner of a run's events.jsonl, from the first event to the last.

Whoever runs a test creates it, hands it to everything that records events (the target,
the load engine, the scenario timeline, the faults) and closes it once everything has
stopped. Every event is redacted (an event may quote a URL or a header), appended whole
and flushed at once: events are rare, and a crash must not lose the one that explains it.
Callers may be threads or greenlets; the appender takes a lock per line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.redaction import redact_strings
from harness.rundir.files import JsonlAppender

EventListener = Callable[[dict[str, Any]], None]


class EventLog:
    """Appends `{"t", "kind", ...fields}` lines to one events.jsonl (see the module)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._appender = JsonlAppender(path)
        self.listeners: list[EventListener] = []
        """Called with each event as recorded (e.g. the live Prometheus metrics)."""

    def event(self, kind: str, t: float | None = None, **fields: Any) -> None:
        """Record one event; `t` (epoch seconds) defaults to now."""
        record: dict[str, Any] = {"t": time.time() if t is None else t, "kind": kind, **fields}
        self._appender.append(redact_strings(record))
        self._appender.flush()
        for listener in self.listeners:
            listener(record)

    def emit(self, kind: str, **fields: Any) -> None:
        """The `EventSink` form: an explicit `t` in `fields` wins."""
        t = fields.pop("t", None)
        self.event(kind, t or None, **fields)

    def __call__(self, kind: str, **fields: Any) -> None:
        """The same as `emit` (the deployment's `on_event` signature)."""
        self.emit(kind, **fields)

    def flush(self) -> None:
        """Push appended lines to the OS (each event is already flushed)."""
        self._appender.flush()

    def close(self) -> None:
        """Flush, sync and close; later events are an error."""
        self._appender.close()
