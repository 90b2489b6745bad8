"""The steady-state probe: one HTTP check every `interval_s`, each a `probe` event.

A probe is part of the hypothesis: a window holding a failed probe does not hold. Each
check is recorded at the time it was sent (`t`), with `ok`, `detail` (status or error) and
`latency_ms`. Runs as a greenlet of the load's process, started and stopped by the timeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import gevent

from harness.runner import http
from harness.scenarios.model import Probe

Emit = Callable[..., None]


class ProbeLoop:
    """Checks `probe` against `base_url` until `stop()`; failed checks' times are kept."""

    def __init__(self, probe: Probe, base_url: str, emit: Emit) -> None:
        self.probe = probe
        self.url = http.resolve(base_url, probe.url)
        self.emit = emit
        self.failures_t: list[float] = []
        self.checks = 0
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        """Start checking in a greenlet."""
        self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        """Stop checking (a check in flight is abandoned, not recorded)."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=5.0)
            self._greenlet = None

    def check(self) -> bool:
        """One check, recorded as a `probe` event."""
        sent_t = time.time()
        answer = http.request(self.url, timeout_s=self.probe.timeout_s)
        ok = answer.status == self.probe.expect_status
        self.checks += 1
        if not ok:
            self.failures_t.append(sent_t)
        detail = answer.summary() if ok else f"expected {self.probe.expect_status}, got "
        if not ok:
            detail += answer.summary()
        self.emit(
            "probe",
            t=sent_t,
            name=self.probe.name,
            ok=ok,
            detail=detail,
            latency_ms=round(answer.took_s * 1000.0, 3),
        )
        return ok

    def _loop(self) -> None:
        next_t = time.monotonic()
        while True:
            self.check()
            next_t += self.probe.interval_s
            gevent.sleep(max(0.0, next_t - time.monotonic()))
