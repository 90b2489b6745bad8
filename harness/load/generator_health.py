"""Is the load generator, not the target, the limit? CPU samples judged on the master.

Every second each worker sends how busy its event loop was (`harness.load.cpu_meter`) and
the master samples itself; `GeneratorHealth` writes them to cpu.jsonl, and when a worker
reaches `SATURATED_PCT` it records a `generator_saturated` event (one per episode: the
worker must fall below `RECOVERED_PCT` before another). A saturated generator cannot keep
its schedule, so what it measures then is its own limit: the Extreme profile asks
`saturated_between(t_from, t_to)` before judging a step. No Locust import here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.rundir.cpu import SATURATED_PCT, CpuSample

RECOVERED_PCT = 75.0
"""Busy below this again ends a saturation episode (hysteresis: one event per episode)."""
KEEP_S = 600.0


@dataclass(frozen=True)
class Saturation:
    """The busiest worker of a window, when it was saturated there."""

    process: str
    busy_pct: float
    seconds: int

    def describe(self) -> str:
        """One line for events and step reasons."""
        return (
            f"the load generator was saturated: {self.process} busy {self.busy_pct:.0f}% "
            f"(on a CPU or waiting for one) over {self.seconds} s"
        )


class GeneratorHealth:
    """Keeps recent CPU samples, writes them, and raises `generator_saturated` events."""

    def __init__(
        self,
        write: Callable[[list[CpuSample]], None],
        event: Callable[..., None],
    ) -> None:
        self._write = write
        self._event = event
        self._samples: dict[str, list[CpuSample]] = {}
        self._saturated: set[str] = set()
        self.episodes = 0

    def add(self, sample: CpuSample) -> None:
        """Record one sample; a worker that reaches saturation is an event."""
        self._write([sample])
        kept = self._samples.setdefault(sample.process, [])
        kept.append(sample)
        while kept and kept[0].t < sample.t - KEEP_S:
            kept.pop(0)
        if sample.role != "worker":
            return
        if sample.saturated and sample.process not in self._saturated:
            self._saturated.add(sample.process)
            self.episodes += 1
            self._event(
                "generator_saturated",
                sample.t,
                process=sample.process,
                pid=sample.pid,
                cpu_pct=round(sample.cpu_pct, 1),
                wait_pct=round(sample.wait_pct, 1),
                threshold_pct=SATURATED_PCT,
            )
        elif sample.busy_pct < RECOVERED_PCT:
            self._saturated.discard(sample.process)

    def saturated_between(self, t_from: float, t_to: float) -> Saturation | None:
        """The worker busiest on average over samples in [t_from, t_to], if that average
        reached `SATURATED_PCT` (a sample covers the second before its `t`)."""
        worst: Saturation | None = None
        for process, samples in self._samples.items():
            inside = [s for s in samples if s.role == "worker" and t_from < s.t <= t_to + 1]
            if not inside:
                continue
            mean = sum(s.busy_pct for s in inside) / len(inside)
            if mean >= SATURATED_PCT and (worst is None or mean > worst.busy_pct):
                worst = Saturation(process, mean, len(inside))
        return worst
