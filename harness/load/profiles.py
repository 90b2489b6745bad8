"""Load profiles: stages of users and target arrival rate, read from TOML into frozen values.

Pure data and stage arithmetic, no Locust: the analysis and the tests use it too.

A stage moves the user count from the previous stage's count (0 before the first) to its
own `users` over its `duration`, and aims at `rate_per_s` requests per second once there.
Users are paced (Locust's `constant_throughput` semantics) at `rate_per_s / users` each,
so `users × per-user rate = target rate`. A stage without `rate_per_s` is unpaced (closed
model, no wait). A stage with `executor = "arrival-rate"` is an open model instead (see
`harness.load.open_model`): its `users` are the pool spawned at its start (`pre_allocated`,
by default its `max_in_flight`). The Extreme profile has
no fixed stages: it steps the arrival rate up until the objectives break (`ExtremeSteps`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from harness.aborts import AbortRule
from harness.errors import ConfigError
from harness.load.open_model import (
    ArrivalRate,
    WorkerArrivals,
)
from harness.rundir.thresholds import Threshold, parse_thresholds

BUILTIN_PROFILES = ("light", "moderate", "heavy", "extreme")
_MIN_SPAWN_RATE = 1.0
MIN_JUDGED_S = 3.0  # an extreme step is judged on at least this many seconds of data


@dataclass(frozen=True)
class Stage:
    """One stage: reach `users` over `duration_s`, paced to `rate_per_s` (None: unpaced).

    With `arrival` set it is an arrival-rate stage: `rate_per_s` starts per second on a
    schedule, at most `arrival.max_in_flight` in flight; `users` (= `arrival.initial_users`)
    are spawned at its start, and the pool grows up to the ceiling when starts need it.
    """

    name: str
    duration_s: float
    users: int
    rate_per_s: float | None = None
    spawn_rate: float | None = None
    arrival: ArrivalRate | None = None


@dataclass(frozen=True)
class Objectives:
    """Steady-state objectives; each set one becomes a threshold of the run."""

    p95_ms: float | None = None
    p99_ms: float | None = None
    error_rate: float | None = None

    def thresholds(self) -> tuple[Threshold, ...]:
        """The objectives as thresholds (`p(95)<250ms`, `error_rate<1%`)."""
        out: list[str] = []
        if self.p95_ms is not None:
            out.append(f"p(95)<{self.p95_ms:g}ms")
        if self.p99_ms is not None:
            out.append(f"p(99)<{self.p99_ms:g}ms")
        if self.error_rate is not None:
            out.append(f"error_rate<{self.error_rate * 100:g}%")
        return tuple(parse_thresholds(out, "objectives"))


@dataclass(frozen=True)
class ExtremeSteps:
    """Step the arrival rate up by `step_factor` every `step_duration_s` until a step breaks.

    A step holds when, over its window (after `settle_s`, before the last `lag_s`), the
    objectives are met and the achieved rate is at least `min_throughput_ratio` of its target.
    """

    start_rate_per_s: float
    step_factor: float
    step_duration_s: float
    max_steps: int
    per_user_rate_per_s: float
    settle_s: float
    lag_s: float = 2.0
    min_throughput_ratio: float = 0.9

    def rate_at(self, step: int) -> float:
        """Target arrival rate of step `step` (0-based)."""
        return self.start_rate_per_s * self.step_factor**step

    def users_at(self, step: int) -> int:
        """Users needed for step `step` at the per-user pacing."""
        return max(1, math.ceil(self.rate_at(step) / self.per_user_rate_per_s - 1e-9))


@dataclass(frozen=True)
class Profile:
    """A named load profile: stages (or extreme steps) and objectives."""

    name: str
    stages: tuple[Stage, ...]
    objectives: Objectives = Objectives()
    description: str = ""
    extreme: ExtremeSteps | None = None
    source: str | None = None
    thresholds: tuple[Threshold, ...] = ()
    """The file's own `thresholds` (judged with the objectives)."""
    aborts: tuple[AbortRule, ...] = ()
    """Those of them marked `abort_on_fail`: judged live, they stop the run."""

    @property
    def duration_s(self) -> float:
        """Planned length in seconds."""
        if self.extreme is not None:
            return self.extreme.step_duration_s * self.extreme.max_steps
        return sum(stage.duration_s for stage in self.stages)

    @property
    def paced(self) -> bool:
        """True when users are paced (some stage has a target rate)."""
        return self.extreme is not None or any(s.rate_per_s is not None for s in self.stages)

    def rescaled(self, duration_s: float) -> Profile:
        """The same profile with every stage (or step) stretched to `duration_s` in total."""
        factor = duration_s / self.duration_s
        if self.extreme is not None:
            steps = self.extreme
            step_s = duration_s / steps.max_steps
            settle_s = steps.settle_s * factor
            if step_s - settle_s - steps.lag_s < MIN_JUDGED_S:
                settle_share = steps.settle_s / steps.step_duration_s
                minimum_s = steps.max_steps * (steps.lag_s + MIN_JUDGED_S) / (1 - settle_share)
                raise ConfigError(
                    f"too short for {steps.max_steps} extreme steps; "
                    f"expected at least {minimum_s:.0f}s",
                    "--duration",
                )
            return replace(self, extreme=replace(steps, step_duration_s=step_s, settle_s=settle_s))
        stages = tuple(replace(s, duration_s=s.duration_s * factor) for s in self.stages)
        return replace(self, stages=stages)


@dataclass(frozen=True)
class StagePoint:
    """Where a staged profile stands: its stage, target users, spawn rate and pacing."""

    index: int
    stage: Stage
    users: int
    spawn_rate: float
    per_user_rate_per_s: float | None
    stage_start_s: float


def stage_spawn_rate(stages: tuple[Stage, ...], index: int) -> float:
    """Users per second for stage `index`: explicit, or its user change over its duration."""
    stage = stages[index]
    if stage.spawn_rate is not None:
        return stage.spawn_rate
    before = stages[index - 1].users if index > 0 else 0
    if stage.arrival is not None:  # the pool is there within a second: starts need it
        return max(float(abs(stage.users - before)), _MIN_SPAWN_RATE)
    return max(abs(stage.users - before) / stage.duration_s, _MIN_SPAWN_RATE)


def stage_pacing(stages: tuple[Stage, ...], index: int) -> float | None:
    """Per-user rate of stage `index`; a stage with no users keeps the one before it (after
    an arrival-rate stage: its rate spread over its ceiling, so users leaving a pool are
    paced, not let loose unpaced)."""
    if stages[index].arrival is not None:
        return None
    for stage in reversed(stages[: index + 1]):
        if stage.rate_per_s is None:
            return None
        if stage.arrival is not None:
            return stage.rate_per_s / stage.arrival.max_in_flight
        if stage.users > 0:
            return stage.rate_per_s / stage.users
    return None


def stage_arrivals(stages: tuple[Stage, ...], index: int) -> WorkerArrivals | None:
    """The run-wide schedule of arrival-rate stage `index`: from the previous stage's rate
    (when that one was arrival-rate too, else its own) to its own over its duration."""
    stage = stages[index]
    if stage.arrival is None or stage.rate_per_s is None:
        return None
    before = stages[index - 1] if index > 0 else None
    start = before.rate_per_s if before is not None and before.arrival is not None else None
    start = stage.rate_per_s if start is None else start
    return WorkerArrivals(
        start, stage.rate_per_s, stage.duration_s, stage.arrival.arrivals,
        stage.arrival.max_in_flight,
    )  # fmt: skip


def stage_at(stages: tuple[Stage, ...], elapsed_s: float) -> StagePoint | None:
    """The stage in force `elapsed_s` seconds into the run; None once every stage is over."""
    start_s = 0.0
    for index, stage in enumerate(stages):
        if elapsed_s < start_s + stage.duration_s:
            return StagePoint(
                index=index,
                stage=stage,
                users=stage.users,
                spawn_rate=stage_spawn_rate(stages, index),
                per_user_rate_per_s=stage_pacing(stages, index),
                stage_start_s=start_s,
            )
        start_s += stage.duration_s
    return None


def constant_profile(users: int, spawn_rate: float, duration_s: float) -> Profile:
    """The plain closed-model load of `--users N --spawn-rate R`: one unpaced stage."""
    if users < 1:
        raise ConfigError(f"expected at least 1 user, got {users}", "--users")
    if spawn_rate <= 0:
        raise ConfigError(f"expected a positive spawn rate, got {spawn_rate:g}", "--spawn-rate")
    stage = Stage(name="constant", duration_s=duration_s, users=users, spawn_rate=spawn_rate)
    return Profile(name="users", stages=(stage,), description=f"{users} users, no pacing")
