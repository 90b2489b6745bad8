"""Where events go before, during and after the load: one sink for the whole scenario.

The target starts before the load engine opens the run's journal, and stops after it has
closed it. `EventRelay` writes events straight to `events.jsonl` while no journal is open
(`direct`), keeps them in memory while the engine starts (`hold`), and forwards them to the
live run once the timeline runs (`attach`); `detach` goes back to writing directly. Callers
may be background threads or greenlets: every method takes one lock.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Protocol

from harness.redaction import redact_strings
from harness.rundir import JsonlAppender


class _Emitter(Protocol):
    def emit(self, kind: str, **fields: Any) -> None: ...


class EventRelay:
    """A thread-safe `EventSink` that follows the run directory's owner (see the module)."""

    def __init__(self, events_path: Path) -> None:
        self.path = events_path
        self._lock = threading.Lock()
        self._direct: JsonlAppender | None = None
        self._held: list[dict[str, Any]] | None = None
        self._live: _Emitter | None = None
        self.direct()

    def emit(self, kind: str, **fields: Any) -> None:
        """Record one event; `t` defaults to now."""
        record: dict[str, Any] = {"t": fields.pop("t", None) or time.time(), "kind": kind}
        record.update(redact_strings(fields))  # tokens and URL secrets never reach the file
        with self._lock:
            if self._live is not None:
                self._live.emit(kind, **{k: v for k, v in record.items() if k != "kind"})
            elif self._held is not None:
                self._held.append(record)
            elif self._direct is not None:
                self._direct.append(record)
                self._direct.flush()

    def __call__(self, kind: str, **fields: Any) -> None:
        """The same as `emit`: the deployment's `on_event` signature."""
        self.emit(kind, **fields)

    def direct(self) -> None:
        """Write to events.jsonl ourselves (no journal is open)."""
        with self._lock:
            self._live = None
            self._held = None
            if self._direct is None:
                self._direct = JsonlAppender(self.path)

    def hold(self) -> None:
        """Keep events in memory: the engine is about to open events.jsonl."""
        with self._lock:
            if self._direct is not None:
                self._direct.close()
                self._direct = None
            self._live = None
            self._held = []

    def attach(self, live: _Emitter) -> None:
        """Forward to the live run, held events first (with their own times)."""
        with self._lock:
            held, self._held = self._held or [], None
            self._live = live
            for record in held:
                live.emit(record["kind"], **{k: v for k, v in record.items() if k != "kind"})

    def detach(self) -> None:
        """The journal is closed: write directly again (held events included)."""
        with self._lock:
            held, self._held = self._held or [], None
            self._live = None
            if self._direct is None:
                self._direct = JsonlAppender(self.path)
            for record in held:
                self._direct.append(record)
            self._direct.flush()

    def close(self) -> None:
        """Flush and close the direct writer."""
        with self._lock:
            if self._direct is not None:
                self._direct.close()
                self._direct = None
