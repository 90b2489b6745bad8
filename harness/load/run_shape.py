"""The shape that drives a run: the locustfile's own, the profile's stages, or extreme steps.

An extreme profile's steps are judged on the master's merged live data (and the load
generators' saturation), and each step's verdict is an event and a console line. Imports
Locust through the master session: load processes only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from locust import LoadTestShape

from harness.load.master import MasterSession
from harness.load.profiles import Profile
from harness.load.shapes import (
    EXTREME_LIMITS,
    ExtremeShape,
    Shape,
    StageChange,
    StagedShape,
    StepObservation,
    StepResult,
)
from harness.load.user_shape import LocustfileShape

Echo = Callable[[str], None]


def run_shape(
    profile: Profile,
    shape_class: type[LoadTestShape] | None,
    session: MasterSession,
    on_stage: Callable[[StageChange], None],
    echo: Echo,
) -> Shape:
    """The shape for this run; `on_stage` hears each stage (or step) as it starts."""
    if shape_class is not None:
        user_shape = shape_class()
        user_shape.runner = session.runner
        return LocustfileShape(user_shape, profile.duration_s, on_stage=on_stage)
    if profile.extreme is None:
        return StagedShape(profile.stages, on_stage=on_stage)

    def judge(t_from: float, t_to: float) -> StepObservation:
        seen = session.aggregator.window(t_from, t_to)
        saturated = session.health.saturated_between(t_from, t_to)
        return replace(seen, saturation=saturated.describe() if saturated else None)

    shape = ExtremeShape(
        profile.extreme,
        profile.objectives,
        judge,
        on_stage=on_stage,
        on_step=lambda result: _announce_step(result, shape, session, echo),
    )
    return shape


def _announce_step(
    result: StepResult, shape: ExtremeShape, session: MasterSession, echo: Echo
) -> None:
    """One extreme step judged: its event and line, and the limit once the steps end."""
    session.on_step(result, lambda: shape.highest_held_rate_per_s)
    verdict = "held" if result.held else f"{result.outcome}: {result.reason}"
    echo(f"extreme step {result.step + 1}: {result.rate_per_s:.1f} req/s {verdict}")
    if shape.limit is not None:
        highest = shape.highest_held_rate_per_s
        session.on_extreme_end(shape.limit, highest, len(shape.results))
        echo(f"limit: {EXTREME_LIMITS[shape.limit]}; highest rate that held: {highest:.1f} req/s")
