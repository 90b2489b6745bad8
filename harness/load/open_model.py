"""The open model: arrival-rate stages and their start schedule (pure: no Locust, no gevent).

A stage with `executor = "arrival-rate"` starts iterations (one task of a user) on a
schedule independent of responses: `rate_per_s` starts per second, ramping linearly from
the previous stage's rate over the stage (a first stage, or one after a closed-model stage,
holds its own rate), at most `max_in_flight` at once in the whole run (the stage's user
pool, split across the workers as Locust splits users). A start that falls due while every
user of a worker is busy is dropped and counted (`dropped_iterations`).

Arrivals are `uniform` (exactly 1/rate apart) or `poisson` (exponential gaps, so starts
bunch as independent clients' do). Both invert the cumulative arrival count
Λ(t) = r0·t + (r1 − r0)·t²/(2T) (then r1 per second after T): the n-th uniform start is at
Λ⁻¹(n), a Poisson one at Λ⁻¹ of a running sum of Exp(1) draws.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EXECUTORS = ("users", "arrival-rate")
ARRIVALS = ("poisson", "uniform")
DEFAULT_ARRIVALS = "poisson"


@dataclass(frozen=True)
class ArrivalRate:
    """The open-model part of a stage: its ceiling and how starts are spread."""

    max_in_flight: int
    arrivals: str = DEFAULT_ARRIVALS


@dataclass(frozen=True)
class WorkerArrivals:
    """What one worker's dispatcher runs for a stage: its share of the rate, ramped."""

    from_rate_per_s: float
    rate_per_s: float
    ramp_s: float
    arrivals: str

    def to_json(self) -> dict[str, Any]:
        """The body of the `arrival` key of a pacing message."""
        return {
            "from_rate_per_s": self.from_rate_per_s,
            "rate_per_s": self.rate_per_s,
            "ramp_s": self.ramp_s,
            "arrivals": self.arrivals,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkerArrivals:
        """Read a pacing message's `arrival` (checked by `check_arrival`)."""
        return cls(
            float(data["from_rate_per_s"]),
            float(data["rate_per_s"]),
            float(data["ramp_s"]),
            str(data["arrivals"]),
        )

    def split(self, workers: int) -> WorkerArrivals:
        """Each of `workers` workers' share of this run-wide schedule."""
        n = max(workers, 1)
        return WorkerArrivals(
            self.from_rate_per_s / n, self.rate_per_s / n, self.ramp_s, self.arrivals
        )


def check_arrival(data: Any) -> str | None:
    """Why a pacing message's `arrival` is malformed, or None when it is well formed."""
    if data is None:
        return None
    if not isinstance(data, Mapping) or set(data) != {
        "from_rate_per_s",
        "rate_per_s",
        "ramp_s",
        "arrivals",
    }:
        return "arrival: expected from_rate_per_s, rate_per_s, ramp_s and arrivals"
    for key in ("from_rate_per_s", "rate_per_s", "ramp_s"):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"arrival.{key}: expected a number"
        if not 0 <= value < 1e7:
            return f"arrival.{key}: out of range"
    if data["arrivals"] not in ARRIVALS:
        return f"arrival.arrivals: expected one of {', '.join(ARRIVALS)}"
    return None


class StartSchedule:
    """Intended start times (seconds from `t0`) of a linearly ramping arrival rate."""

    def __init__(self, plan: WorkerArrivals, t0: float, rng: random.Random | None = None) -> None:
        self.plan = plan
        self.t0 = t0
        self._rng = rng or random.Random()
        self._count = 0.0  # Λ at the last start
        self._poisson = plan.arrivals == "poisson"

    def rate_at(self, elapsed_s: float) -> float:
        """The intended rate `elapsed_s` into the stage."""
        p = self.plan
        if p.ramp_s <= 0 or elapsed_s >= p.ramp_s:
            return p.rate_per_s
        return p.from_rate_per_s + (p.rate_per_s - p.from_rate_per_s) * elapsed_s / p.ramp_s

    def next_start(self) -> float | None:
        """The absolute time of the next intended start; None when the rate stays 0."""
        self._count += self._rng.expovariate(1.0) if self._poisson else 1.0
        elapsed = self._inverse(self._count)
        return None if elapsed is None else self.t0 + elapsed

    def _inverse(self, count: float) -> float | None:
        """The elapsed time at which Λ reaches `count` (None: never)."""
        p = self.plan
        r0, r1, ramp = p.from_rate_per_s, p.rate_per_s, max(p.ramp_s, 0.0)
        in_ramp = (r0 + r1) / 2 * ramp
        if count > in_ramp or ramp == 0:
            return None if r1 <= 0 else ramp + (count - in_ramp) / r1
        slope = (r1 - r0) / ramp
        if abs(slope) < 1e-12:
            return count / r0
        # slope/2·t² + r0·t − count = 0, the root in [0, ramp]
        root = (-r0 + math.sqrt(max(r0 * r0 + 2 * slope * count, 0.0))) / slope
        return min(max(root, 0.0), ramp)
