"""Shapes driven by a fake clock: stage walking, rescaling, extreme stepping and break."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.load.profile_file import load_profile
from harness.load.profiles import ExtremeSteps, Objectives, Stage
from harness.load.shapes import (
    ExtremeShape,
    StageChange,
    StagedShape,
    StepObservation,
    StepResult,
    judge_step,
)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


STAGES = (Stage("ramp", 10.0, 10, 50.0), Stage("steady", 20.0, 10, 50.0), Stage("down", 5.0, 0, 0))


def test_staged_shape_walks_stages_and_stops() -> None:
    clock = FakeClock()
    changes: list[StageChange] = []
    shape = StagedShape(STAGES, clock=clock, on_stage=changes.append)
    assert shape.tick() == (10, pytest.approx(1.0))
    clock.t += 9.9
    assert shape.tick() == (10, pytest.approx(1.0))
    clock.t += 0.2
    assert shape.tick() == (10, pytest.approx(1.0))  # steady: no user change
    clock.t += 20.0
    assert shape.tick() == (0, pytest.approx(2.0))  # ten users leave over 5 s
    clock.t += 5.0
    assert shape.tick() is None
    assert [c.name for c in changes] == ["ramp", "steady", "down"]
    assert changes[0].t == 1_000.0 and changes[0].per_user_rate_per_s == pytest.approx(5.0)
    assert changes[2].rate_per_s == 0 and changes[2].per_user_rate_per_s == pytest.approx(5.0)


def test_staged_shape_reports_a_skipped_stage() -> None:
    clock = FakeClock()
    changes: list[StageChange] = []
    shape = StagedShape(STAGES, clock=clock, on_stage=changes.append)
    shape.tick()
    clock.t += 31.0  # a tick blocked through the whole steady stage (Locust ramps block)
    assert shape.tick() == (0, pytest.approx(2.0))
    assert [c.name for c in changes] == ["ramp", "steady", "down"]


def test_duration_rescales_the_shape() -> None:
    profile = load_profile("light").rescaled(6.0)
    clock = FakeClock()
    shape = StagedShape(profile.stages, clock=clock)
    assert shape.planned_duration_s == pytest.approx(6.0)
    assert shape.tick() is not None
    clock.t += 5.99
    assert shape.tick() is not None
    clock.t += 0.02
    assert shape.tick() is None


STEPS = ExtremeSteps(
    start_rate_per_s=100.0,
    step_factor=1.25,
    step_duration_s=10.0,
    max_steps=5,
    per_user_rate_per_s=5.0,
    settle_s=3.0,
)
OBJECTIVES = Objectives(p95_ms=250.0, error_rate=0.01)


class SyntheticService:
    """Serves up to `capacity_per_s`; beyond it, latency grows past the objective."""

    def __init__(self, capacity_per_s: float) -> None:
        self.capacity_per_s = capacity_per_s
        self.windows: list[tuple[float, float]] = []
        self.offered_per_s = 0.0

    def judge(self, t_from: float, t_to: float) -> StepObservation:
        self.windows.append((t_from, t_to))
        window_s = t_to - t_from
        served = min(self.offered_per_s, self.capacity_per_s)
        p95_ms = 40.0 if self.offered_per_s <= self.capacity_per_s else 900.0
        return StepObservation(int(served * window_s), 0, window_s, p95_ms, p95_ms * 1.5)


def test_extreme_steps_up_until_objectives_break() -> None:
    clock = FakeClock()
    service = SyntheticService(capacity_per_s=170.0)
    results: list[StepResult] = []
    changes: list[StageChange] = []
    shape = ExtremeShape(STEPS, OBJECTIVES, service.judge, clock, changes.append, results.append)
    users_seen = []
    for _ in range(60):
        tick = shape.tick()
        if tick is None:
            break
        users_seen.append(tick[0])
        service.offered_per_s = tick[0] * STEPS.per_user_rate_per_s
        clock.t += 1.0
    # 100, 125, 156.25 hold; 195.3 breaks
    assert [r.held for r in results] == [True, True, True, False]
    assert shape.highest_held_rate_per_s == pytest.approx(156.25)
    assert shape.broke is not None and shape.broke.rate_per_s == pytest.approx(195.3125)
    assert shape.limit == "target" and results[-1].outcome == "broke"
    assert "p95" in shape.broke.reason
    assert sorted(set(users_seen)) == [20, 25, 32, 40]
    assert [c.name for c in changes] == ["step-1", "step-2", "step-3", "step-4"]
    # each step is judged after its settle time and before its last lag_s seconds
    assert service.windows[0] == (1_003.0, 1_008.0)
    assert service.windows[1] == (1_013.0, 1_018.0)


def test_extreme_stops_after_last_step_when_nothing_breaks() -> None:
    clock = FakeClock()
    service = SyntheticService(capacity_per_s=1e9)
    shape = ExtremeShape(STEPS, OBJECTIVES, service.judge, clock)
    ticks = 0
    while shape.tick() is not None and ticks < 100:
        service.offered_per_s = STEPS.users_at(len(shape.results)) * STEPS.per_user_rate_per_s
        clock.t += 1.0
        ticks += 1
    assert len(shape.results) == STEPS.max_steps and all(r.held for r in shape.results)
    assert shape.broke is None and shape.limit == "time_cap"
    assert shape.highest_held_rate_per_s == pytest.approx(STEPS.rate_at(4))


def test_judge_step_needs_throughput_and_errors_within_objectives() -> None:
    short = judge_step(STEPS, OBJECTIVES, 0, StepObservation(400, 0, 5.0, 10.0, 10.0))
    assert not short.held and "achieved 80.0" in short.reason
    errors = judge_step(STEPS, OBJECTIVES, 0, StepObservation(500, 10, 5.0, 10.0, 10.0))
    assert not errors.held and "error rate" in errors.reason
    fine = judge_step(STEPS, OBJECTIVES, 0, StepObservation(500, 5, 5.0, 249.0, 300.0))
    assert fine.held and fine.reason == "" and fine.achieved_rate_per_s == pytest.approx(100.0)
    nothing = judge_step(STEPS, OBJECTIVES, 0, StepObservation(0, 0, 5.0, 0.0, 0.0))
    assert not nothing.held and "no requests" in nothing.reason


class SaturatedGenerator(SyntheticService):
    """A target that never breaks, driven by a generator saturated from `from_rate_per_s`."""

    def __init__(self, from_rate_per_s: float) -> None:
        super().__init__(capacity_per_s=1e9)
        self.from_rate_per_s = from_rate_per_s

    def judge(self, t_from: float, t_to: float) -> StepObservation:
        seen = super().judge(t_from, t_to)
        if self.offered_per_s < self.from_rate_per_s:
            return seen
        return replace(seen, saturation="the load generator was saturated: worker w busy 97%")


def test_a_step_judged_while_the_generator_is_saturated_is_neither_held_nor_broken() -> None:
    clock = FakeClock()
    generator = SaturatedGenerator(from_rate_per_s=150.0)
    results: list[StepResult] = []
    shape = ExtremeShape(STEPS, OBJECTIVES, generator.judge, clock, on_step=results.append)
    while (tick := shape.tick()) is not None and clock.t < 1_100:
        generator.offered_per_s = tick[0] * STEPS.per_user_rate_per_s
        clock.t += 1.0
    # 100 and 125 hold; at 156.25 the generator is saturated: stepping ends there
    assert [r.outcome for r in results] == ["held", "held", "generator"]
    assert not results[-1].held and "generator was saturated" in results[-1].reason
    assert shape.limit == "generator" and shape.broke is None
    assert shape.highest_held_rate_per_s == pytest.approx(125.0)
