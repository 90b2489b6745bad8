"""The scenario's load: its profile fitted to the timeline, so the load is steady when judged.

A profile's own stages (a 10 s ramp, 40 s steady, 10 s ramp-down for Light) would put the
ramp-down inside the observation once stretched to a scenario's length. So the profile is
split at its peak: the stages up to the first one at the peak user count (the ramp) fill at
most half of the warmup, the stages after the last one at the peak (the ramp-down) fill the
cooldown (dropped without one), and the stages between fill the rest, proportionally. A
profile that only ramps up and down holds its peak in between. Extreme is refused: it
steps up until objectives break, and no recovery can be measured against that.
"""

from __future__ import annotations

from dataclasses import replace

from harness.errors import ConfigError
from harness.load.profile_file import load_profile, profile_from_mapping
from harness.load.profiles import Profile, Stage
from harness.scenarios.model import Phases, Scenario, thaw

MIN_RAMP_S = 0.1


def scenario_profile(scenario: Scenario) -> Profile:
    """The scenario's profile (a name or an inline table), fitted to its timeline."""
    source = scenario.source or "scenario"
    spec = scenario.profile
    if spec.inline is not None:  # its errors already name the file and `profile`
        profile = profile_from_mapping(thaw(spec.inline), f"{source}: profile", "inline")
    else:
        try:
            profile = load_profile(spec.name or "light")
        except ConfigError as exc:
            raise ConfigError(str(exc), f"{source}: profile") from None
    if profile.extreme is not None:
        raise ConfigError(
            "expected a staged profile: extreme steps the load up until it breaks, "
            "so no recovery can be measured against it",
            f"{source}: profile",
        )
    return fit_profile(profile, scenario.phases, scenario.duration_s)


def fit_profile(profile: Profile, phases: Phases, total_s: float) -> Profile:
    """`profile`'s stages fitted to a scenario timeline of `total_s` (module docstring)."""
    stages = profile.stages
    peak = max(stage.users for stage in stages)
    first = next(i for i, s in enumerate(stages) if s.users == peak)
    last = max(i for i, s in enumerate(stages) if s.users == peak)
    head, body, tail = stages[: first + 1], stages[first + 1 : last + 1], stages[last + 1 :]
    head_s = max(MIN_RAMP_S, min(_length(head), phases.warmup_s / 2))
    tail_s = phases.cooldown_s if tail and phases.cooldown_s > 0 else 0.0
    body_s = total_s - head_s - tail_s
    if not body:
        top = head[-1]
        body = (replace(top, name="steady", duration_s=1.0, spawn_rate=None),)
    fitted = (
        *_stretched(head, head_s),
        *_stretched(body, body_s),
        *(_stretched(tail, tail_s) if tail_s > 0 else ()),
    )
    return replace(profile, stages=fitted)


def _length(stages: tuple[Stage, ...]) -> float:
    return sum(stage.duration_s for stage in stages)


def _stretched(stages: tuple[Stage, ...], total_s: float) -> tuple[Stage, ...]:
    """The stages scaled to last `total_s` together (equal shares when they last 0 s)."""
    length = _length(stages)
    if length <= 0:
        return tuple(replace(s, duration_s=total_s / len(stages)) for s in stages)
    factor = total_s / length
    return tuple(replace(s, duration_s=s.duration_s * factor, spawn_rate=None) for s in stages)
