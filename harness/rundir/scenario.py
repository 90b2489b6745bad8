"""The parts of a scenario that run.json keeps and the analysis reads, as types.

A scenario run stores its scenario in run.json as `config.scenario`
(harness.scenarios.stored writes it). Recovery analysis needs only its name, its fault's
type, its phases, its steady-state hypothesis and its recovery objectives: `StoredScenario`
reads exactly those, so the analysis never loads the scenario file reader (nor anything it
validates, such as fault parameters). The scenario model reuses these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.rundir.fields import (
    JSONObject,
    opt_float,
    opt_object,
    opt_str,
    req_float,
    req_int,
    req_object,
    req_str,
)
from harness.rundir.manifest import Manifest

LATENCY_KEYS: dict[str, float] = {
    "p50_ms": 50.0,
    "p90_ms": 90.0,
    "p95_ms": 95.0,
    "p99_ms": 99.0,
    "p99_9_ms": 99.9,
}
"""The steady state's latency keys and the percentile each limits."""


@dataclass(frozen=True)
class Phases:
    """Lengths of the timeline's phases, in seconds (`window_s` is the RTO window)."""

    warmup_s: float = 5.0
    steady_check_s: float = 5.0
    observe_s: float = 20.0
    cooldown_s: float = 2.0
    window_s: float = 3.0


@dataclass(frozen=True)
class Probe:
    """An HTTP probe that is part of the steady-state hypothesis.

    `url` is absolute, or a path (starting with `/`) resolved against the target.
    """

    url: str
    expect_status: int = 200
    timeout_s: float = 2.0
    interval_s: float = 1.0
    name: str = "steady_state"


@dataclass(frozen=True)
class PercentileLimit:
    """One latency tolerance: the `pct` percentile of successes at most `max_ms`."""

    pct: float
    max_ms: float

    @property
    def key(self) -> str:
        """The scenario-file key for this limit, e.g. `p95_ms`, `p99_9_ms`."""
        text = f"{self.pct:g}".replace(".", "_")
        return f"p{text}_ms"


@dataclass(frozen=True)
class SteadyState:
    """The steady-state hypothesis: tolerances the service meets when it is healthy.

    `success_rate` is a fraction (0.99 = 99%; 0 leaves it unchecked). A window with fewer
    than `min_requests` completed requests does not hold (no evidence the service serves),
    nor does one holding a silence (no request completed at all) of `max_silence_s` or
    more; None means automatic: the time 10 requests took just before the injection.
    """

    success_rate: float = 0.99
    latency_ms: tuple[PercentileLimit, ...] = ()
    min_requests: int = 1
    max_silence_s: float | None = None
    probe: Probe | None = None


@dataclass(frozen=True)
class Objectives:
    """Recovery objectives the verdict checks; None leaves one unchecked."""

    rto_s: float | None = None
    rpo_s: float | None = None
    containment_s: float | None = None


@dataclass(frozen=True)
class StoredScenario:
    """run.json's `config.scenario`, as much of it as recovery analysis reads."""

    name: str = "scenario"
    fault_type: str = "command"
    phases: Phases = field(default_factory=Phases)
    steady_state: SteadyState = field(default_factory=SteadyState)
    objectives: Objectives = field(default_factory=Objectives)

    @classmethod
    def from_dict(
        cls, data: JSONObject, where: str = "run.json: config.scenario"
    ) -> StoredScenario:
        """From the stored scenario (RecordError for a field of the wrong type)."""
        defaults = Phases()
        phases = req_object(data, "phases", where)
        at = f"{where}: phases"
        objectives = req_object(data, "objectives", where)
        return cls(
            name=req_str(data, "name", where, "scenario"),
            fault_type=req_str(req_object(data, "fault", where), "type", where, "command"),
            phases=Phases(
                warmup_s=req_float(phases, "warmup_s", at, defaults.warmup_s),
                steady_check_s=req_float(phases, "steady_check_s", at, defaults.steady_check_s),
                observe_s=req_float(phases, "observe_s", at, defaults.observe_s),
                cooldown_s=req_float(phases, "cooldown_s", at, defaults.cooldown_s),
                window_s=req_float(phases, "window_s", at, defaults.window_s),
            ),
            steady_state=_steady_state(req_object(data, "steady_state", where), where),
            objectives=Objectives(
                rto_s=opt_float(objectives, "rto_s", where),
                rpo_s=opt_float(objectives, "rpo_s", where),
                containment_s=opt_float(objectives, "containment_s", where),
            ),
        )


def _steady_state(data: JSONObject, where: str) -> SteadyState:
    at = f"{where}: steady_state"
    silence = data.get("max_silence_s")
    probe = opt_object(data, "probe", at)
    return SteadyState(
        success_rate=req_float(data, "success_rate", at, SteadyState().success_rate),
        latency_ms=tuple(
            PercentileLimit(pct, limit_ms)
            for key, pct in LATENCY_KEYS.items()
            if (limit_ms := opt_float(data, key, at)) is not None
        ),
        min_requests=req_int(data, "min_requests", at, 1),
        max_silence_s=None if silence in (None, "auto") else opt_float(data, "max_silence_s", at),
        probe=None if probe is None else _probe(probe, f"{at}: probe"),
    )


def _probe(data: JSONObject, where: str) -> Probe:
    defaults = Probe(url="")
    return Probe(
        url=opt_str(data, "url", where) or req_str(data, "path", where),
        expect_status=req_int(data, "expect_status", where, defaults.expect_status),
        timeout_s=req_float(data, "timeout_s", where, defaults.timeout_s),
        interval_s=req_float(data, "interval_s", where, defaults.interval_s),
        name=req_str(data, "name", where, defaults.name),
    )


def stored_scenario(manifest: Manifest) -> StoredScenario | None:
    """The scenario a run.json keeps in `config.scenario`; None when it keeps none."""
    data = manifest.scenario_config
    return None if data is None else StoredScenario.from_dict(data)
