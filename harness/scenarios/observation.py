"""How long a scenario's observation must last for its verdict to mean something.

RTO is the start of the first window (`window_s`) in which the steady state holds and keeps
holding until the observation ends, so a recovery is only seen when one whole window fits
after it. The observation therefore needs, after the injection, at least:

- the RTO objective plus one window: a recovery just within the objective can be seen;
- the runbook's last step plus one window: recovery after the last action can be seen;
- the fault's hold (`fault.duration_s`) plus one window: recovery after the clear.

The objective and the window are fixed lengths; the runbook's times and the fault's hold
scale with `--duration`. So a too short observation is refused (exit 2) when a file asks
for it, and `--duration` is refused below the scenario's minimum total, which the message
gives: a run that could never show its objective met would only fail, or pass unjudged.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import ConfigError
from harness.scenarios.model import Scenario

_EPSILON_S = 1e-9


@dataclass(frozen=True)
class ObservationNeed:
    """The longest of the needs (module docstring): what it is and how long it lasts."""

    what: str
    need_s: float
    scales: bool
    """True when the need grows with `--duration` (a runbook step, the fault's hold)."""

    def min_total_s(self, scenario: Scenario) -> float:
        """The shortest `--duration` whose observation meets this need."""
        phases = scenario.phases
        if self.scales:  # factor * (observe - at) >= window
            scaled_part = self.need_s - phases.window_s
            room = phases.observe_s - scaled_part
            factor = phases.window_s / room if room > _EPSILON_S else float("inf")
        else:
            factor = self.need_s / phases.observe_s
        return scenario.duration_s * factor


def observation_needs(scenario: Scenario) -> list[ObservationNeed]:
    """Every need of the scenario's observation, in seconds after the injection."""
    window_s = scenario.phases.window_s
    needs: list[ObservationNeed] = []
    if scenario.objectives.rto_s is not None:
        rto_s = scenario.objectives.rto_s
        needs.append(
            ObservationNeed(
                f"the RTO objective ({rto_s:g}s) and one window ({window_s:g}s)",
                rto_s + window_s,
                scales=False,
            )
        )
    if scenario.recovery.steps:
        last = scenario.recovery.steps[-1]
        needs.append(
            ObservationNeed(
                f"the runbook's last step ({last.action} at {last.after_s:g}s) and one window "
                f"({window_s:g}s)",
                last.after_s + window_s,
                scales=True,
            )
        )
    if scenario.fault.duration_s is not None:
        held_s = scenario.fault.duration_s
        needs.append(
            ObservationNeed(
                f"the fault's hold ({held_s:g}s) and one window ({window_s:g}s)",
                held_s + window_s,
                scales=True,
            )
        )
    return needs


def min_total_s(scenario: Scenario) -> float:
    """The shortest total length (`--duration`) that meets every need; 0 without needs."""
    return max((need.min_total_s(scenario) for need in observation_needs(scenario)), default=0.0)


def ensure_observation(scenario: Scenario, source: str, duration_flag: str | None = None) -> None:
    """ConfigError when the observation is shorter than a need (module docstring).

    `duration_flag` names what rescaled the scenario (`--duration 30s`); the error then
    names the scenario and the minimum total, else the file's `phases.observe_s`.
    """
    observe_s = scenario.phases.observe_s
    unmet = [n for n in observation_needs(scenario) if n.need_s > observe_s + _EPSILON_S]
    if not unmet:
        return
    need = max(unmet, key=lambda n: n.need_s)
    if duration_flag is not None:
        raise ConfigError(
            f"too short for scenario {scenario.name}: it leaves an observation of "
            f"{observe_s:.3g}s, and {need.what} need an observation of at least "
            f"{need.need_s:.3g}s: expected at least {_ceil_tenth(min_total_s(scenario))}s",
            f"{source}: {duration_flag}",
        )
    raise ConfigError(
        f"scenario {scenario.name}: {need.what} need an observation of at least "
        f"{need.need_s:g}s, got {observe_s:g}s",
        f"{source}: phases.observe_s",
    )


def _ceil_tenth(seconds: float) -> str:
    """Seconds rounded up to a tenth, so the number given is always enough."""
    tenths = -(-seconds * 10 // 1)
    return f"{tenths / 10:g}"
