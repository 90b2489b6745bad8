"""A scenario's timeline run beside the load: one greenlet whose failure fails the run.

The engine starts it when the shape starts (`start`), asks each tick whether it ended the
load (`done`), gives it a bounded grace once the shape ends (`await_end`), and kills it on
the way out (`stop`), which runs its finally blocks (a fault's rollback). An exception
from the timeline is never lost: it is an `error` event, and the run fails with it.
Imports gevent and, through `LiveRun`, Locust: load processes only.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

import gevent
import gevent.event
from gevent import Greenlet

from harness.errors import HarnessError, RunFailed
from harness.load.journal import RunJournal
from harness.load.live import LiveRun, TimelineHook
from harness.load.master import MasterSession

TIMELINE_GRACE_S = 60.0  # a timeline still busy when the shape ends gets this long to finish
TIMELINE_KILL_TIMEOUT_S = 90.0  # its rollbacks (finally blocks) get this long when stopped


class TimelineRunner:
    """Runs `timeline(live)` in a greenlet of the master and judges how it ended."""

    def __init__(self, timeline: TimelineHook, journal: RunJournal) -> None:
        self.timeline = timeline
        self.journal = journal
        self.live: LiveRun | None = None
        self.greenlet: Greenlet | None = None
        self.error: str | None = None

    def start(self, session: MasterSession) -> None:
        """Spawn the timeline now: the shape has just started."""
        self.live = LiveRun(self.journal, session, time.time())
        self.greenlet = gevent.spawn(self._run, self.live)

    def _run(self, live: LiveRun) -> None:
        try:
            self.timeline(live)
        except gevent.GreenletExit:
            raise
        except HarnessError as exc:
            self._failed(" | ".join(s.strip() for s in str(exc).splitlines() if s.strip()))
        except Exception as exc:  # never vanishes: an error event, and the run fails
            self._failed(
                f"scenario timeline: internal error: {type(exc).__name__}: {exc}",
                traceback.format_exc(limit=8),
            )

    def _failed(self, message: str, trace: str | None = None) -> None:
        self.error = message
        extra: dict[str, Any] = {"traceback": trace} if trace else {}
        self.journal.event("error", message=message, **extra)

    def done(self) -> bool:
        """True when the timeline asked the load to end; RunFailed on its error."""
        if self.error is not None:
            raise RunFailed(self.error)
        return self.live is not None and self.live.stop_requested

    def await_end(self, stop_requested: gevent.event.Event) -> None:
        """The shape ended: let a busy timeline finish (bounded), then judge it."""
        greenlet = self.greenlet
        deadline = time.monotonic() + TIMELINE_GRACE_S
        while greenlet is not None and not greenlet.dead and not stop_requested.is_set():
            if time.monotonic() > deadline:
                self.journal.event("warning", message="the scenario timeline outlived the load")
                break
            greenlet.join(timeout=0.2)
        if self.error is not None:
            raise RunFailed(self.error)

    def stop(self) -> None:
        """Stop a timeline still running: GreenletExit runs its finally blocks (rollbacks)."""
        greenlet = self.greenlet
        if greenlet is not None and not greenlet.dead:
            greenlet.kill(block=True, timeout=TIMELINE_KILL_TIMEOUT_S)
            if not greenlet.dead:
                self.journal.event("error", message="the scenario timeline did not stop in time")
