"""What a scenario timeline sees of a running load: `LiveRun`, handed to `run_load`'s hook.

`run_load(config, timeline=fn)` spawns `fn(live)` in a greenlet of the master's process
when the shape starts. The timeline records events, flushes the run directory to read it,
refreshes the load users' tokens, and may end the load early. Its waits must be
gevent-friendly (gevent.sleep, or blocking calls that gevent patches). Imports Locust
through the master session: load processes only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gevent.event

from harness.load.journal import RunJournal
from harness.load.master import MasterSession

TimelineHook = Callable[["LiveRun"], None]
"""A scenario's timeline: runs beside the load, returns when its work is done."""


class LiveRun:
    """A running load, as its timeline may use it (from a greenlet of the master)."""

    def __init__(self, journal: RunJournal, session: MasterSession, t0: float) -> None:
        self._journal = journal
        self._session = session
        self._stop = gevent.event.Event()
        self.t0 = t0
        """Epoch time at which the load (the shape) started."""

    @property
    def run_dir(self) -> Path:
        """The run directory being written."""
        return self._journal.run_dir.path

    def emit(self, kind: str, **fields: Any) -> None:
        """Append an event to events.jsonl; an explicit `t` in `fields` wins (thread-safe)."""
        t = fields.pop("t", None)
        self._journal.event(kind, t, **fields)

    def elapsed_s(self) -> float:
        """Seconds since the load started."""
        return time.time() - self.t0

    def flush(self) -> None:
        """Write every complete second and push the run directory's files to the OS."""
        self._session.flush()

    def ledger_through_t(self) -> float:
        """Every write acknowledged before this time is in ledger.jsonl (after `flush`).

        The lowest watermark of the live workers (they ship writes with their seconds).
        """
        marks = self._session.aggregator.watermarks()
        return min(marks.values()) if marks else time.time()

    def refresh_tokens(self, tokens: Mapping[str, str]) -> None:
        """Send new bearer tokens (by role) to every worker; their users switch at once."""
        self._session.refresh_tokens(dict(tokens))

    def stop(self) -> None:
        """End the load now (a normal end: the run completes)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        """True once the timeline asked the load to end."""
        return bool(self._stop.is_set())
