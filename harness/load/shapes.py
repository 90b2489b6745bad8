"""Load shapes: a profile's stages (or extreme steps) turned into Locust ticks.

The shapes are plain classes driven by a `clock` parameter, so their arithmetic is tested
with a fake clock and no Locust; `locust_shape()` wraps one in a Locust `LoadTestShape`
(importing Locust lazily) for the master runner. A shape's timeline starts at its first tick.

`ExtremeShape` judges each finished step from the master's merged live data (a `judge`
callable) and stops at the first step whose objectives do not hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from harness.load.open_model import WorkerArrivals
from harness.load.profiles import (
    ExtremeSteps,
    Objectives,
    Stage,
    stage_arrivals,
    stage_at,
    stage_pacing,
    stage_spawn_rate,
)

if TYPE_CHECKING:
    from locust import LoadTestShape

Clock = Callable[[], float]


@dataclass(frozen=True)
class StageChange:
    """The shape moved into a stage: what the `stage` event and the workers' pacing need."""

    t: float
    name: str
    users: int
    spawn_rate: float
    rate_per_s: float | None
    per_user_rate_per_s: float | None
    arrival: WorkerArrivals | None = None
    """The run-wide start schedule of an arrival-rate stage (None: closed model)."""


@dataclass(frozen=True)
class StepObservation:
    """What the merged live data says about one window of an extreme step."""

    requests: int
    failures: int
    window_s: float
    p95_ms: float
    p99_ms: float
    saturation: str | None = None
    """Set when a load worker was saturated over the window (what it says): the figures
    then measure the generator, not the target."""


@dataclass(frozen=True)
class StepResult:
    """The verdict on one extreme step: `outcome` is `held`, `broke` (the target), or
    `generator` (the load generator was saturated: neither held nor broken)."""

    step: int
    rate_per_s: float
    held: bool
    achieved_rate_per_s: float
    error_rate: float
    p95_ms: float
    p99_ms: float
    reason: str
    outcome: str = "held"


EXTREME_LIMITS = {
    "target": "the target broke its objectives",
    "generator": "the load generator was saturated (not the target)",
    "time_cap": "the time cap: every step held",
}
"""Why Extreme stopped stepping (`ExtremeShape.limit`), in words."""

Judge = Callable[[float, float], StepObservation]
"""Observation of the wall-clock window [t_from, t_to) from the merged live data."""


class Shape(Protocol):
    """What the master needs of a shape."""

    planned_duration_s: float

    def tick(self) -> tuple[Any, ...] | None:
        """Target (users, spawn rate[, user classes]) now, or None to stop."""


class StagedShape:
    """Walks a profile's stages: each tick returns the current stage's users and spawn rate."""

    def __init__(
        self,
        stages: tuple[Stage, ...],
        clock: Clock = time.time,
        on_stage: Callable[[StageChange], None] | None = None,
    ) -> None:
        self.stages = stages
        self.planned_duration_s = sum(s.duration_s for s in stages)
        self._clock = clock
        self._on_stage = on_stage
        self._start: float | None = None
        self._index = -1

    def elapsed_s(self) -> float:
        """Seconds since the first tick (0 before it)."""
        return 0.0 if self._start is None else self._clock() - self._start

    def tick(self) -> tuple[int, float] | None:
        """(users, spawn rate) of the stage in force, or None when the last one is over."""
        now = self._clock()
        if self._start is None:
            self._start = now
        point = stage_at(self.stages, now - self._start)
        if point is None:
            return None
        while self._index < point.index:  # a slow tick may step over a short stage
            self._index += 1
            self._announce(now, self._index)
        return point.users, point.spawn_rate

    def _announce(self, now: float, index: int) -> None:
        if self._on_stage is None:
            return
        stage = self.stages[index]
        self._on_stage(
            StageChange(
                t=now,
                name=stage.name,
                users=stage.users,
                spawn_rate=stage_spawn_rate(self.stages, index),
                rate_per_s=stage.rate_per_s,
                per_user_rate_per_s=stage_pacing(self.stages, index),
                arrival=stage_arrivals(self.stages, index),
            )
        )


def judge_step(
    steps: ExtremeSteps, objectives: Objectives, step: int, seen: StepObservation
) -> StepResult:
    """Did step `step` hold? Objectives met and at least `min_throughput_ratio` of its rate."""
    target = steps.rate_at(step)
    achieved = seen.requests / seen.window_s if seen.window_s > 0 else 0.0
    error_rate = seen.failures / seen.requests if seen.requests else 0.0
    reasons: list[str] = []
    if seen.requests == 0:
        reasons.append("no requests completed")
    if achieved < steps.min_throughput_ratio * target:
        reasons.append(
            f"achieved {achieved:.1f} req/s < {steps.min_throughput_ratio:.0%} of {target:.1f}"
        )
    if objectives.error_rate is not None and error_rate > objectives.error_rate:
        reasons.append(f"error rate {error_rate:.2%} > {objectives.error_rate:.2%}")
    if objectives.p95_ms is not None and seen.p95_ms > objectives.p95_ms:
        reasons.append(f"p95 {seen.p95_ms:.1f} ms > {objectives.p95_ms:g} ms")
    if objectives.p99_ms is not None and seen.p99_ms > objectives.p99_ms:
        reasons.append(f"p99 {seen.p99_ms:.1f} ms > {objectives.p99_ms:g} ms")
    if seen.saturation is not None:  # the generator's limit, whatever the figures say
        outcome, reasons = "generator", [seen.saturation, *reasons]
    else:
        outcome = "broke" if reasons else "held"
    return StepResult(
        step=step,
        rate_per_s=target,
        held=not reasons,
        achieved_rate_per_s=achieved,
        error_rate=error_rate,
        p95_ms=seen.p95_ms,
        p99_ms=seen.p99_ms,
        reason="; ".join(reasons),
        outcome=outcome,
    )


class ExtremeShape:
    """Steps the arrival rate up until the target breaks a step's objectives, the load
    generator is saturated during a step, or the last step (the time cap) is done; `limit`
    then says which: `target`, `generator` or `time_cap`."""

    def __init__(
        self,
        steps: ExtremeSteps,
        objectives: Objectives,
        judge: Judge,
        clock: Clock = time.time,
        on_stage: Callable[[StageChange], None] | None = None,
        on_step: Callable[[StepResult], None] | None = None,
    ) -> None:
        self.steps = steps
        self.objectives = objectives
        self.planned_duration_s = steps.step_duration_s * steps.max_steps
        self.results: list[StepResult] = []
        self.broke: StepResult | None = None
        self.limit: str | None = None
        self._judge = judge
        self._clock = clock
        self._on_stage = on_stage
        self._on_step = on_step
        self._start: float | None = None
        self._step = -1

    @property
    def highest_held_rate_per_s(self) -> float:
        """The highest target rate whose step held (0 when none did)."""
        return max((r.rate_per_s for r in self.results if r.held), default=0.0)

    def tick(self) -> tuple[int, float] | None:
        """(users, spawn rate) of the current step; None after a break or the last step."""
        now = self._clock()
        if self._start is None:
            self._start = now
        if self.limit is not None and self.limit != "time_cap":
            return None
        current = int((now - self._start) // self.steps.step_duration_s)
        while 0 <= self._step < current:
            if not self._judge_step(self._step):
                return None
            if self._step + 1 >= self.steps.max_steps:
                self._step = self.steps.max_steps
                return None
            self._step += 1
            self._announce(now, self._step)
        if self._step >= self.steps.max_steps:
            return None
        if self._step < 0:
            self._step = 0
            self._announce(now, 0)
        return self.steps.users_at(self._step), self._spawn_rate(self._step)

    def _judge_step(self, step: int) -> bool:
        assert self._start is not None
        step_start = self._start + step * self.steps.step_duration_s
        t_from = step_start + self.steps.settle_s
        t_to = step_start + self.steps.step_duration_s - self.steps.lag_s
        result = judge_step(self.steps, self.objectives, step, self._judge(t_from, t_to))
        self.results.append(result)
        if result.outcome == "broke":
            self.broke = result
        if not result.held:
            self.limit = "target" if result.outcome == "broke" else "generator"
        elif step + 1 >= self.steps.max_steps:
            self.limit = "time_cap"
        if self._on_step is not None:
            self._on_step(result)
        return result.held

    def _spawn_rate(self, step: int) -> float:
        before = self.steps.users_at(step - 1) if step > 0 else 0
        ramp_s = max(self.steps.settle_s / 2, 1.0)
        return max(abs(self.steps.users_at(step) - before) / ramp_s, 1.0)

    def _announce(self, now: float, step: int) -> None:
        if self._on_stage is None:
            return
        self._on_stage(
            StageChange(
                t=now,
                name=f"step-{step + 1}",
                users=self.steps.users_at(step),
                spawn_rate=self._spawn_rate(step),
                rate_per_s=self.steps.rate_at(step),
                per_user_rate_per_s=self.steps.per_user_rate_per_s,
            )
        )


class ShapeFailed(Exception):
    """A shape's tick failed; the message says which and why."""


def locust_shape(shape: Shape) -> LoadTestShape:
    """Wrap a shape as a Locust `LoadTestShape` (imports Locust: load processes only)."""
    from locust import LoadTestShape

    class HarnessShape(LoadTestShape):
        """Delegates to the harness shape; its timeline starts at the first tick."""

        done = False
        error: str | None = None
        """Why a tick raised: the users stop and the run fails (Locust would only log it
        and keep the last tick's users running to the end of the run, up to an hour)."""

        def tick(self) -> tuple[Any, ...] | None:
            try:
                target = shape.tick()
            except ShapeFailed as exc:
                self.error, target = str(exc), None
            except Exception as exc:
                self.error, target = f"{type(exc).__name__}: {exc}", None
            if target is None:
                self.done = True
            return target

    return HarnessShape()  # type: ignore[no-untyped-call]  # Locust's __init__ is untyped
