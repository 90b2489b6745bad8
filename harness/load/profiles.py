"""Load profiles: stages of users and target arrival rate, read from TOML into frozen values.

Pure data and stage arithmetic, no Locust: the analysis and the tests use it too.

A stage moves the user count from the previous stage's count (0 before the first) to its
own `users` over its `duration`, and aims at `rate_per_s` requests per second once there.
Users are paced (Locust's `constant_throughput` semantics) at `rate_per_s / users` each,
so `users × per-user rate = target rate`. A stage without `rate_per_s` is unpaced (closed
model, no wait). A stage with `executor = "arrival-rate"` is an open model instead (see
`harness.load.open_model`): its `users` are its `max_in_flight`. The Extreme profile has
no fixed stages: it steps the arrival rate up until the objectives break (`ExtremeSteps`).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.aborts import AbortRule, threshold_entries
from harness.durations import parse_duration_s
from harness.errors import ConfigError
from harness.load.open_model import (
    ARRIVALS,
    DEFAULT_ARRIVALS,
    EXECUTORS,
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
    schedule, `users` (= `arrival.max_in_flight`) the ceiling of starts in flight.
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
    """Per-user rate of stage `index`; a stage with no users keeps the one before it."""
    for stage in reversed(stages[: index + 1]):
        if stage.rate_per_s is None or stage.arrival is not None:
            return None
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
    return WorkerArrivals(start, stage.rate_per_s, stage.duration_s, stage.arrival.arrivals)


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


def profile_dirs(cwd: Path | None = None) -> tuple[Path, ...]:
    """Where profile names are looked up: ./scenarios/profiles, then the source checkout's."""
    import harness

    local = (cwd or Path.cwd()) / "scenarios" / "profiles"
    shipped = Path(harness.__file__).resolve().parents[1] / "scenarios" / "profiles"
    return (local, shipped) if local.resolve() != shipped else (shipped,)


def resolve_profile_path(name_or_path: str, cwd: Path | None = None) -> Path:
    """The file for a profile name (`light`) or a path (`my.toml`); ConfigError if none."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(f"no such profile file {name_or_path!r}", "--profile")
        return path
    for folder in profile_dirs(cwd):
        candidate = folder / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    known = sorted(
        {p.stem for folder in profile_dirs(cwd) if folder.is_dir() for p in folder.glob("*.toml")}
    )
    raise ConfigError(
        f"unknown profile {name_or_path!r}; expected one of {', '.join(known) or 'none found'}"
        " or a path to a .toml file",
        "--profile",
    )


def load_profile(name_or_path: str, cwd: Path | None = None) -> Profile:
    """Read a profile by name or path; ConfigError names the file, key and expectation."""
    path = resolve_profile_path(name_or_path, cwd)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", str(path)) from None
    return profile_from_mapping(data, where=str(path), default_name=path.stem)


def profile_from_mapping(
    data: Mapping[str, Any], where: str = "profile", default_name: str = "inline"
) -> Profile:
    """Build a Profile from parsed TOML (a file's contents, or a scenario's inline table)."""
    reader = _Reader(where)
    reader.only_keys(
        data, "", {"name", "description", "stages", "objectives", "extreme", "thresholds"}
    )
    name = reader.text(data, "name", default_name)
    description = reader.text(data, "description", "")
    objectives = _objectives(reader, data.get("objectives", {}))
    extreme = None
    stages: tuple[Stage, ...] = ()
    if "extreme" in data:
        if "stages" in data:
            raise ConfigError(
                "expected either [extreme] or [[stages]], not both", f"{where}: stages"
            )
        extreme = _extreme(reader, data["extreme"])
    else:
        raw = data.get("stages")
        if not isinstance(raw, list) or not raw:
            raise ConfigError(
                "expected a non-empty array of tables [[stages]] (or an [extreme] table)",
                f"{where}: stages",
            )
        stages = tuple(_stage(reader, item, i) for i, item in enumerate(raw))
    exprs, aborts = threshold_entries(data.get("thresholds"), f"{where}: thresholds")
    thresholds = tuple(parse_thresholds(exprs, f"{where}: thresholds"))
    return Profile(name, stages, objectives, description, extreme, where, thresholds, aborts)


class _Reader:
    """Typed access to TOML values with errors naming file and key."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, expected: str, got: object) -> ConfigError:
        return ConfigError(f"expected {expected}, got {got!r}", f"{self.where}: {key}")

    def only_keys(self, table: Any, prefix: str, allowed: set[str]) -> None:
        if not isinstance(table, Mapping):
            raise self.fail(prefix or "(top level)", "a table", table)
        for key in table:
            if key not in allowed:
                raise self.fail(f"{prefix}{key}", f"one of {', '.join(sorted(allowed))}", key)

    def text(self, table: Mapping[str, Any], key: str, default: str, prefix: str = "") -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.fail(prefix + key, "a string", value)
        return value

    def number(
        self, table: Mapping[str, Any], key: str, prefix: str = "", *, minimum: float = 0.0
    ) -> float:
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise self.fail(prefix + key, f"a number >= {minimum:g}", value)
        return float(value)

    def optional_number(self, table: Mapping[str, Any], key: str, prefix: str = "") -> float | None:
        return None if key not in table else self.number(table, key, prefix)

    def duration(self, table: Mapping[str, Any], key: str, prefix: str = "") -> float:
        if key not in table:
            raise self.fail(prefix + key, "a duration such as 30s", None)
        return parse_duration_s(table[key], f"{self.where}: {prefix}{key}")


def _stage(reader: _Reader, item: Any, index: int) -> Stage:
    prefix = f"stages[{index}]."
    reader.only_keys(
        item, prefix, {"name", "duration", "users", "rate_per_s", "spawn_rate"} | _OPEN
    )
    if item.get("executor", "users") != "users":
        return _arrival_stage(reader, item, index)
    users = item.get("users")
    if isinstance(users, bool) or not isinstance(users, int) or users < 0:
        raise reader.fail(prefix + "users", "an integer >= 0", users)
    rate = reader.optional_number(item, "rate_per_s", prefix)
    spawn = reader.optional_number(item, "spawn_rate", prefix)
    if spawn is not None and spawn <= 0:
        raise reader.fail(prefix + "spawn_rate", "a positive number", spawn)
    if rate is not None and rate > 0 and users == 0:
        raise reader.fail(prefix + "rate_per_s", "0 when the stage has no users", rate)
    return Stage(
        name=reader.text(item, "name", f"stage-{index + 1}", prefix),
        duration_s=reader.duration(item, "duration", prefix),
        users=users,
        rate_per_s=rate,
        spawn_rate=spawn,
    )


_OPEN = {"executor", "max_in_flight", "arrivals"}


def _arrival_stage(reader: _Reader, item: Mapping[str, Any], index: int) -> Stage:
    """An `executor = "arrival-rate"` stage: rate_per_s and max_in_flight, no users."""
    prefix = f"stages[{index}]."
    if item["executor"] not in EXECUTORS:
        raise reader.fail(prefix + "executor", f"one of {', '.join(EXECUTORS)}", item["executor"])
    if "users" in item:
        raise reader.fail(
            prefix + "users", "no users in an arrival-rate stage (max_in_flight)", item["users"]
        )
    if "rate_per_s" not in item:
        raise reader.fail(prefix + "rate_per_s", "starts per second", None)
    ceiling = item.get("max_in_flight")
    if isinstance(ceiling, bool) or not isinstance(ceiling, int) or ceiling < 1:
        raise reader.fail(prefix + "max_in_flight", "an integer >= 1", ceiling)
    arrivals = reader.text(item, "arrivals", DEFAULT_ARRIVALS, prefix)
    if arrivals not in ARRIVALS:
        raise reader.fail(prefix + "arrivals", f"one of {', '.join(ARRIVALS)}", arrivals)
    spawn = reader.optional_number(item, "spawn_rate", prefix)
    if spawn is not None and spawn <= 0:
        raise reader.fail(prefix + "spawn_rate", "a positive number", spawn)
    return Stage(
        name=reader.text(item, "name", f"stage-{index + 1}", prefix),
        duration_s=reader.duration(item, "duration", prefix),
        users=ceiling,
        rate_per_s=reader.number(item, "rate_per_s", prefix),
        spawn_rate=spawn,
        arrival=ArrivalRate(ceiling, arrivals),
    )


def _objectives(reader: _Reader, table: Any) -> Objectives:
    prefix = "objectives."
    reader.only_keys(table, prefix, {"p95_ms", "p99_ms", "error_rate"})
    error_rate = reader.optional_number(table, "error_rate", prefix)
    if error_rate is not None and error_rate > 1:
        raise reader.fail(prefix + "error_rate", "a fraction in 0..1 (0.01 = 1%)", error_rate)
    return Objectives(
        p95_ms=reader.optional_number(table, "p95_ms", prefix),
        p99_ms=reader.optional_number(table, "p99_ms", prefix),
        error_rate=error_rate,
    )


def _extreme(reader: _Reader, table: Any) -> ExtremeSteps:
    prefix = "extreme."
    keys = {"start_rate_per_s", "step_factor", "step_duration", "max_steps", "per_user_rate_per_s"}
    reader.only_keys(table, prefix, keys | {"settle", "min_throughput_ratio"})
    steps = table.get("max_steps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise reader.fail(prefix + "max_steps", "an integer >= 1", steps)
    factor = reader.number(table, "step_factor", prefix, minimum=1.0)
    if factor <= 1.0:
        raise reader.fail(prefix + "step_factor", "a number > 1 (1.25 = +25% per step)", factor)
    step_s = reader.duration(table, "step_duration", prefix)
    settle_s = reader.duration(table, "settle", prefix) if "settle" in table else step_s / 3
    result = ExtremeSteps(
        start_rate_per_s=reader.number(table, "start_rate_per_s", prefix, minimum=0.001),
        step_factor=factor,
        step_duration_s=step_s,
        max_steps=steps,
        per_user_rate_per_s=reader.number(table, "per_user_rate_per_s", prefix, minimum=0.001),
        settle_s=settle_s,
        min_throughput_ratio=_ratio(reader, table, prefix),
    )
    if step_s - settle_s - result.lag_s < MIN_JUDGED_S:
        raise reader.fail(
            prefix + "step_duration",
            f"at least settle + {result.lag_s + MIN_JUDGED_S:g}s "
            f"({settle_s + result.lag_s + MIN_JUDGED_S:g}s)",
            table["step_duration"],
        )
    return result


def _ratio(reader: _Reader, table: Mapping[str, Any], prefix: str) -> float:
    if "min_throughput_ratio" not in table:
        return 0.9
    value = reader.number(table, "min_throughput_ratio", prefix)
    if value > 1:
        raise reader.fail(prefix + "min_throughput_ratio", "a fraction in 0..1", value)
    return value
