"""Per-second, per-request-name recording on a load process (no Locust import here).

`IntervalRecorder.on_request` has the signature of Locust's `request` event, so it records
any user class, ours or a user's locustfile. Each completed request goes, by its completion
time, into the whole wall-clock second it completed in, under `"<METHOD> <name>"`:

- successes into an HdrHistogram of integer microseconds (`round(response_time_ms * 1000)`);
- when the request was paced (its context carries `harness_pacing_us`), also into a
  histogram corrected for coordinated omission with HdrHistogram's expected-interval
  correction (`record_us(..., expected_interval_us=pacing)`);
- failures into a histogram of their own, counted by kind (HTTP status or exception class);
- bytes, values clipped into the histogram's range, and per-100 ms success/failure counts;
- an arrival-rate executor's starts, started or dropped for want of a free user, and the
  users its pool grew by, under the name `(arrivals)` (a start that never happened has no
  request name).

`take()` hands over finished seconds as plain dicts (histograms encoded), ready for a
Locust message to the master; `take(final=True)` also hands over the current partial second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.rundir.histograms import encode, new_histogram, record_us
from harness.rundir.intervals import ARRIVALS_NAME, FINE_SLOTS

PACING_KEY = "harness_pacing_us"


def failure_kind(exception: BaseException | None, response: Any) -> str:
    """How a failure is counted: its HTTP status when 4xx/5xx, else the exception's class."""
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and 400 <= status <= 599:
        return str(status)
    return type(exception).__name__ if exception is not None else "Failure"


class _Bucket:
    """One second of one request name."""

    __slots__ = (
        "bytes",
        "clipped",
        "dropped",
        "errors",
        "failures",
        "fine_fail",
        "fine_ok",
        "grown_users",
        "hdr",
        "hdr_corrected",
        "hdr_fail",
        "iterations",
        "requests",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        self.bytes = 0
        self.clipped = 0
        self.dropped = 0
        self.iterations = 0
        self.grown_users = 0
        self.hdr: HdrHistogram | None = None
        self.hdr_corrected: HdrHistogram | None = None
        self.hdr_fail: HdrHistogram | None = None
        self.fine_ok = [0] * FINE_SLOTS
        self.fine_fail = [0] * FINE_SLOTS
        self.errors: dict[str, int] = {}

    def encoded(self, t: int, name: str) -> dict[str, Any]:
        return {
            "t": t,
            "name": name,
            "requests": self.requests,
            "failures": self.failures,
            "bytes": self.bytes,
            "hdr": encode(self.hdr) if self.hdr is not None else None,
            "hdr_corrected": encode(self.hdr_corrected) if self.hdr_corrected is not None else None,
            "hdr_fail": encode(self.hdr_fail) if self.hdr_fail is not None else None,
            "fine_ok": self.fine_ok,
            "fine_fail": self.fine_fail,
            "errors": self.errors,
            "clipped": self.clipped,
            "iterations": self.iterations,
            "dropped_iterations": self.dropped,
            "grown_users": self.grown_users,
        }


class IntervalRecorder:
    """Records requests into per-second buckets and hands finished seconds over."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._seconds: dict[int, dict[str, _Bucket]] = {}
        self._ledger: list[dict[str, Any]] = []
        self.recorded = 0

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        response_length: int | None,
        exception: BaseException | None = None,
        context: Mapping[str, Any] | None = None,
        response: Any = None,
        **_kwargs: Any,
    ) -> None:
        """Locust `request` event listener."""
        pacing_us = context.get(PACING_KEY, 0) if context else 0
        self.record(
            name=f"{request_type} {name}",
            t_end=self._clock(),
            latency_us=round((response_time or 0.0) * 1000),
            nbytes=response_length or 0,
            failure=None if exception is None else failure_kind(exception, response),
            pacing_us=pacing_us,
        )

    def record(
        self,
        name: str,
        t_end: float,
        latency_us: int,
        nbytes: int = 0,
        failure: str | None = None,
        pacing_us: int = 0,
    ) -> None:
        """Record one completed request; `failure` is its kind, None for a success."""
        second = int(t_end // 1)
        names = self._seconds.get(second)
        if names is None:
            names = self._seconds[second] = {}
        bucket = names.get(name)
        if bucket is None:
            bucket = names[name] = _Bucket()
        slot = min(int((t_end - second) * FINE_SLOTS), FINE_SLOTS - 1)
        bucket.requests += 1
        bucket.bytes += nbytes
        self.recorded += 1
        if failure is None:
            bucket.fine_ok[slot] += 1
            if pacing_us > 0 and bucket.hdr_corrected is None:
                bucket.hdr_corrected = new_histogram()
                if bucket.hdr is not None:  # earlier unpaced successes of this second
                    bucket.hdr_corrected.add(bucket.hdr)
            if bucket.hdr is None:
                bucket.hdr = new_histogram()
            if not record_us(bucket.hdr, latency_us):
                bucket.clipped += 1
            if bucket.hdr_corrected is not None:
                record_us(bucket.hdr_corrected, latency_us, expected_interval_us=pacing_us)
        else:
            bucket.failures += 1
            bucket.fine_fail[slot] += 1
            bucket.errors[failure] = bucket.errors.get(failure, 0) + 1
            if bucket.hdr_fail is None:
                bucket.hdr_fail = new_histogram()
            if not record_us(bucket.hdr_fail, latency_us):
                bucket.clipped += 1

    def arrival(self, t_due: float, started: bool) -> None:
        """Count one arrival-rate start due at `t_due`: started, or dropped (all users busy)."""
        bucket = self._arrivals(t_due)
        if started:
            bucket.iterations += 1
        else:
            bucket.dropped += 1

    def grown(self, t: float) -> None:
        """Count one user the arrival-rate pool grew by at `t` (beyond `pre_allocated`)."""
        self._arrivals(t).grown_users += 1

    def _arrivals(self, t: float) -> _Bucket:
        names = self._seconds.setdefault(int(t // 1), {})
        bucket = names.get(ARRIVALS_NAME)
        if bucket is None:
            bucket = names[ARRIVALS_NAME] = _Bucket()
        return bucket

    def add_ledger(self, entry: dict[str, Any]) -> None:
        """Keep one acknowledged write for the next `take_ledger()`."""
        self._ledger.append(entry)

    def take_ledger(self) -> list[dict[str, Any]]:
        """Acknowledged writes since the last call."""
        entries, self._ledger = self._ledger, []
        return entries

    def take(
        self,
        now: float | None = None,
        final: bool = False,
        pause: Callable[[], object] | None = None,
    ) -> list[dict[str, Any]]:
        """Encoded buckets of every second before `now`'s (all of them when `final`).

        `pause` runs between buckets: a worker passes `gevent.sleep(0)`, so responses that
        arrive meanwhile are timed without waiting for every histogram to be encoded.
        """
        current = int((self._clock() if now is None else now) // 1)
        done = sorted(t for t in self._seconds if final or t < current)
        taken = [(t, self._seconds.pop(t)) for t in done]  # before any pause: taken once
        out: list[dict[str, Any]] = []
        for t, names in taken:
            for name, bucket in names.items():
                out.append(bucket.encoded(t, name))
                if pause is not None:
                    pause()
        return out
