"""Profile files: a profile by name or path, read from TOML into a `Profile` once.

Every key is read through the one TOML table reader (`harness.toml_table.Table`), so a bad
value is one line naming the file, the key and what was expected (exit 2). The profile's
own `thresholds` (expressions or `abort_on_fail` tables) are parsed here too.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.aborts import threshold_entries
from harness.errors import ConfigError
from harness.load.open_model import (
    ARRIVALS,
    DEFAULT_ARRIVALS,
    EXECUTORS,
    MAX_RATE_PER_S,
    MAX_USERS,
    ArrivalRate,
)
from harness.load.profiles import MIN_JUDGED_S, ExtremeSteps, Objectives, Profile, Stage
from harness.rundir.thresholds import parse_thresholds
from harness.toml_table import Table

SHIPPED_PROFILES = Path(__file__).resolve().parents[1] / "profiles"
"""The shipped profiles (light, moderate, heavy, extreme and the open-model variants): package
data, so a name resolves wherever the harness is installed and whatever the directory."""


def profile_dirs(cwd: Path | None = None) -> tuple[Path, ...]:
    """Where profile names are looked up: ./scenarios/profiles (the user's own), then the
    shipped ones."""
    local = (cwd or Path.cwd()) / "scenarios" / "profiles"
    return (local, SHIPPED_PROFILES)


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
    top = Table(data, where)
    name = top.string("name", default_name)
    description = top.raw("description") or ""
    if not isinstance(description, str):
        raise top.error("expected a string", "description")
    objectives_table = top.table("objectives")
    objectives = Objectives() if objectives_table is None else _objectives(objectives_table)
    extreme = None
    stages: tuple[Stage, ...] = ()
    extreme_table = top.table("extreme")
    if extreme_table is not None:
        if top.has("stages"):
            raise top.error("expected either [extreme] or [[stages]], not both", "stages")
        extreme = _extreme(extreme_table)
    else:
        found = top.tables("stages")
        if not found:
            raise top.error(
                "expected a non-empty array of tables [[stages]] (or an [extreme] table)", "stages"
            )
        stages = tuple(_stage(table, i) for i, table in enumerate(found))
    exprs, aborts = threshold_entries(top.raw("thresholds"), f"{where}: thresholds")
    thresholds = tuple(parse_thresholds(exprs, f"{where}: thresholds"))
    top.finish()
    return Profile(name, stages, objectives, description, extreme, where, thresholds, aborts)


def _stage(table: Table, index: int) -> Stage:
    executor = table.choice("executor", EXECUTORS, "users")
    if executor != "users":
        return _arrival_stage(table, index)
    users = table.integer("users", low=0)
    rate = table.opt_number("rate_per_s", low=0.0)
    spawn = _spawn_rate(table)
    if rate is not None and rate > 0 and users == 0:
        raise table.error(f"expected 0 when the stage has no users, got {rate!r}", "rate_per_s")
    table.has("max_in_flight")  # an open-model key a closed stage leaves unused
    table.has("arrivals")
    if table.has("pre_allocated"):
        raise table.error(
            'expected pre_allocated only in an arrival-rate stage (executor = "arrival-rate")',
            "pre_allocated",
        )
    stage = Stage(
        name=table.string("name", f"stage-{index + 1}"),
        duration_s=table.duration("duration"),
        users=users,
        rate_per_s=rate,
        spawn_rate=spawn,
    )
    table.finish()
    return stage


def _spawn_rate(table: Table) -> float | None:
    spawn = table.opt_number("spawn_rate")
    if spawn is not None and spawn <= 0:
        raise table.error(f"expected a positive number, got {spawn!r}", "spawn_rate")
    return spawn


def _arrival_stage(table: Table, index: int) -> Stage:
    """An `executor = "arrival-rate"` stage: rate_per_s, max_in_flight and optionally
    pre_allocated (the users spawned at its start), no users."""
    if table.has("users"):
        raise table.error("expected no users in an arrival-rate stage (max_in_flight)", "users")
    # bounded as the workers' pacing check bounds them: a stage beyond it would have its
    # schedule refused by every worker and run silently at the users' own pacing
    ceiling = table.integer("max_in_flight", low=1, high=MAX_USERS)
    arrivals = table.choice("arrivals", ARRIVALS, DEFAULT_ARRIVALS)
    pre_allocated = None
    if table.has("pre_allocated"):
        pre_allocated = table.integer("pre_allocated", low=1)
        if pre_allocated > ceiling:
            raise table.error(
                f"expected at most max_in_flight ({ceiling}), got {pre_allocated}",
                "pre_allocated",
            )
    arrival = ArrivalRate(ceiling, arrivals, pre_allocated)
    stage = Stage(
        name=table.string("name", f"stage-{index + 1}"),
        duration_s=table.duration("duration"),
        users=arrival.initial_users,
        rate_per_s=table.number("rate_per_s", low=0.0, high=MAX_RATE_PER_S),
        spawn_rate=_spawn_rate(table),
        arrival=arrival,
    )
    table.finish()
    return stage


def _objectives(table: Table) -> Objectives:
    error_rate = table.opt_number("error_rate", low=0.0)
    if error_rate is not None and error_rate > 1:
        raise table.error(
            f"expected a fraction in 0..1 (0.01 = 1%), got {error_rate!r}", "error_rate"
        )
    objectives = Objectives(
        p95_ms=table.opt_number("p95_ms", low=0.0),
        p99_ms=table.opt_number("p99_ms", low=0.0),
        error_rate=error_rate,
    )
    table.finish()
    return objectives


def _extreme(table: Table) -> ExtremeSteps:
    steps = table.integer("max_steps", low=1)
    factor = table.number("step_factor", low=1.0)
    if factor <= 1.0:
        raise table.error(f"expected a number > 1 (1.25 = +25% per step), got {factor!r}",
                          "step_factor")  # fmt: skip
    step_s = table.duration("step_duration")
    settle_s = table.duration("settle", step_s / 3)
    ratio = table.number("min_throughput_ratio", 0.9, low=0.0)
    if ratio > 1:
        raise table.error(f"expected a fraction in 0..1, got {ratio!r}", "min_throughput_ratio")
    result = ExtremeSteps(
        start_rate_per_s=table.number("start_rate_per_s", low=0.001),
        step_factor=factor,
        step_duration_s=step_s,
        max_steps=steps,
        per_user_rate_per_s=table.number("per_user_rate_per_s", low=0.001),
        settle_s=settle_s,
        min_throughput_ratio=ratio,
    )
    table.finish()
    if step_s - settle_s - result.lag_s < MIN_JUDGED_S:
        minimum_s = settle_s + result.lag_s + MIN_JUDGED_S
        raise table.error(
            f"expected at least settle + {result.lag_s + MIN_JUDGED_S:g}s ({minimum_s:g}s), "
            f"got {table.raw('step_duration')!r}",
            "step_duration",
        )
    return result
