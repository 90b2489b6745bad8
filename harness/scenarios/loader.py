"""Load scenario files (TOML) into frozen `Scenario` values, with precise errors.

Every problem is a `ConfigError` naming the file, the dotted key and what was expected,
raised before anything starts; unknown keys are errors too, with a "did you mean". The
same reader turns the scenario stored in `run.json` (`config.scenario`) back into a model.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from harness.aborts import threshold_entries
from harness.errors import ConfigError
from harness.rundir.scenario import LATENCY_KEYS
from harness.rundir.thresholds import parse_thresholds
from harness.scenarios.model import (
    FAULT_TYPES,
    RECOVERY_MODES,
    DeploymentSpec,
    FaultSpec,
    Objectives,
    PercentileLimit,
    Phases,
    Probe,
    ProfileSpec,
    Recovery,
    RecoveryMode,
    RecoveryStep,
    Scenario,
    SteadyState,
    Target,
    freeze,
    rescale,
)
from harness.scenarios.observation import ensure_observation
from harness.toml_table import Table

NAME_MAX = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAME_RULE = (
    f"letters, digits, '.', '_' and '-', starting with a letter or digit, at most {NAME_MAX}"
)
"""What a scenario name may hold: it names the run's folder in a suite and its index link."""

#: Latency keys of `[steady_state]` and the percentile each limits.


def load_scenario(path: Path | str, duration_s: float | None = None) -> Scenario:
    """Read and validate the scenario file at `path`, rescaled to `duration_s` when given."""
    path = Path(path)
    source = str(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("no such scenario file", source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source) from None
    scenario = scenario_from_mapping(data, source, default_name=path.stem)
    flag = "duration" if "duration" in data else None
    if duration_s is not None:
        scenario = rescale_checked(scenario, duration_s, source)
        flag = f"--duration {duration_s:g}s"
    ensure_observation(scenario, source, flag)
    return scenario


def scenario_from_mapping(
    data: Mapping[str, Any], source: str, default_name: str | None = None
) -> Scenario:
    """Validate parsed TOML (or the JSON from `scenario_to_dict`) into a `Scenario`."""
    top = Table(data, source)
    name = _name(top, default_name)
    description = top.raw("description")
    if description is not None and not isinstance(description, str):
        raise top.error("expected a string", "description")
    profile = _profile(top)
    target = _target(top)
    phases = _phases(top.table("phases"))
    steady = _steady_state(top.table("steady_state"))
    fault_table = top.table("fault", required=True)
    assert fault_table is not None
    fault = _fault(fault_table)
    recovery = _recovery(top.table("recovery"))
    exprs, aborts = threshold_entries(top.raw("thresholds"), top.where("thresholds"))
    thresholds = parse_thresholds(exprs, f"{source}: thresholds")
    objectives = _objectives(top.table("objectives"))
    total_s = top.opt_duration("duration")
    deployment = _deployment(top.table("deployment"), target)
    locustfile = _locustfile(top)
    readback = top.table("readback")
    top.finish()
    scenario = Scenario(
        name=name,
        description=description or "",
        profile=profile,
        target=target,
        phases=phases,
        steady_state=steady,
        fault=fault,
        recovery=recovery,
        thresholds=tuple(thresholds),
        aborts=aborts,
        objectives=objectives,
        source=source,
        deployment=deployment,
        locustfile=locustfile,
        readback=freeze(readback.data) if readback is not None else None,
    )
    ensure_timeline(scenario, source)
    if total_s is not None:
        scenario = rescale_checked(scenario, total_s, source, key="duration")
    return scenario


def rescale_checked(
    scenario: Scenario, total_s: float, source: str = "--duration", key: str | None = None
) -> Scenario:
    """`rescale`, then `ensure_timeline`: a total too short for the window is a ConfigError."""
    if total_s <= 0:
        raise ConfigError(f"expected a positive duration, got {total_s!r}", source)
    scaled = rescale(scenario, total_s)
    try:
        ensure_timeline(scaled, source)
    except ConfigError as exc:
        where = f"{source}: {key}" if key else source
        raise ConfigError(f"a total of {total_s:g}s is too short: {exc}", where) from None
    return scaled


def ensure_timeline(scenario: Scenario, source: str) -> None:
    """Check that the timeline's points are in order and RTO is measurable at all."""
    phases, fault = scenario.phases, scenario.fault
    earliest_s = phases.warmup_s + phases.steady_check_s
    if fault.at_s is not None and fault.at_s < earliest_s - 1e-9:
        raise ConfigError(
            f"expected at least warmup_s + steady_check_s = {earliest_s:g}s "
            f"(inject after the steady check), got {fault.at_s:g}s",
            f"{source}: fault.at_s",
        )
    if phases.observe_s < phases.window_s:
        raise ConfigError(
            f"expected an observation of at least phases.window_s = {phases.window_s:g}s "
            f"(RTO needs one full window), got {phases.observe_s:g}s",
            f"{source}: phases.observe_s",
        )
    if fault.duration_s is not None and fault.duration_s > phases.observe_s + 1e-9:
        raise ConfigError(
            f"expected at most phases.observe_s = {phases.observe_s:g}s, got {fault.duration_s:g}s",
            f"{source}: fault.duration_s",
        )
    for index, step in enumerate(scenario.recovery.steps):
        if step.after_s > phases.observe_s + 1e-9:
            raise ConfigError(
                f"expected at most phases.observe_s = {phases.observe_s:g}s after the "
                f"injection, got {step.after_s:g}s",
                f"{source}: recovery.steps[{index}].after_s",
            )


def ensure_name(name: str, where: str, hint: str = "") -> str:
    """`name` when it is a safe file name (NAME_RULE), else a ConfigError at `where`.

    A suite writes each scenario's run into `<out>/<name>/` and links it from its index, so
    a name is never a path (`../x`, `/tmp/x`), a URL (`javascript:...`) or a dot file.
    """
    if len(name) <= NAME_MAX and _NAME.fullmatch(name):
        return name
    raise ConfigError(f"expected {NAME_RULE} characters, got {name[:80]!r}{hint}", where)


def _name(top: Table, default_name: str | None) -> str:
    """The scenario's `name`, or the file's stem when absent; either way a safe name."""
    if top.has("name") or default_name is None:
        return ensure_name(top.string("name"), top.where("name"))
    return ensure_name(default_name, top.where("name"), " (the file's name): set name")


def _profile(top: Table) -> ProfileSpec:
    value = top.raw("profile")
    if value is None:
        return ProfileSpec()
    if isinstance(value, str) and value.strip():
        return ProfileSpec(name=value, inline=None)
    if isinstance(value, Mapping):
        return ProfileSpec(name=None, inline=freeze(value))
    raise top.error("expected a profile name (a string) or an inline profile table", "profile")


def _target(top: Table) -> Target:
    value = top.raw("target")
    if value is None or value == "deployment":
        return Target()
    if isinstance(value, str):
        return Target(kind="url", url=_url(value, top, "target"))
    if isinstance(value, Mapping):
        table = Table(value, top.source, "target")
        url = table.string("url")
        table.finish()
        return Target(kind="url", url=_url(url, table, "url"))
    raise top.error('expected "deployment" or a table {url = "http://..."}', "target")


def _url(value: str, table: Table, key: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise table.error(f'expected "deployment" or an http(s) URL, got {value!r}', key)
    return value.rstrip("/")


def _locustfile(top: Table) -> str | None:
    """The `locustfile` key, made absolute against the scenario file's folder."""
    value = top.opt_string("locustfile")
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(top.source).parent / path
    return str(path.resolve())


def _phases(table: Table | None) -> Phases:
    if table is None:
        return Phases()
    defaults = Phases()
    phases = Phases(
        warmup_s=table.duration("warmup_s", defaults.warmup_s, zero_ok=True),
        steady_check_s=table.duration("steady_check_s", defaults.steady_check_s, zero_ok=True),
        observe_s=table.duration("observe_s", defaults.observe_s),
        cooldown_s=table.duration("cooldown_s", defaults.cooldown_s, zero_ok=True),
        window_s=table.duration("window_s", defaults.window_s),
    )
    table.finish()
    return phases


def _success_rate(table: Table) -> float:
    value = table.raw("success_rate")
    if value is None:
        return SteadyState().success_rate
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            value = float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise table.error(
                f"expected a fraction or a percentage, got {value!r}", "success_rate"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise table.error(
            f'expected a fraction in [0, 1] (0.99) or a percentage ("99%"), got {value!r}',
            "success_rate",
        )
    return float(value)


def _steady_state(table: Table | None) -> SteadyState:
    if table is None:
        return SteadyState()
    success_rate = _success_rate(table)
    limits = []
    for key, pct in LATENCY_KEYS.items():
        limit_ms = table.opt_number(key, low=0.001)
        if limit_ms is not None:
            limits.append(PercentileLimit(pct, limit_ms))
    min_requests = table.integer("min_requests", 1, low=0)
    max_silence_s = (
        None if table.raw("max_silence_s") in (None, "auto") else (table.duration("max_silence_s"))
    )
    probe_table = table.table("probe")
    probe = _probe(probe_table) if probe_table is not None else None
    table.finish()
    return SteadyState(
        success_rate=success_rate,
        latency_ms=tuple(limits),
        min_requests=min_requests,
        max_silence_s=max_silence_s,
        probe=probe,
    )


def _probe(table: Table) -> Probe:
    url = table.opt_string("url")
    path = table.opt_string("path")
    if (url is None) == (path is None):
        raise table.error("expected exactly one of url (absolute) or path (on the target)", None)
    if path is not None and not path.startswith("/"):
        raise table.error(f"expected a path starting with /, got {path!r}", "path")
    if url is not None and not url.startswith("/"):
        _url(url, table, "url")
    probe = Probe(
        url=cast(str, url or path),
        expect_status=table.integer("expect_status", 200, low=100, high=599),
        timeout_s=table.duration("timeout_s", 2.0),
        interval_s=table.duration("interval_s", 1.0),
        name=table.string("name", "steady_state"),
    )
    table.finish()
    return probe


def _fault(table: Table) -> FaultSpec:
    fault_type = table.choice("type", FAULT_TYPES)
    at_s = table.opt_duration("at_s", zero_ok=True)
    duration_s = table.opt_duration("duration_s")
    params = table.table("params")
    table.finish()
    return FaultSpec(
        type=fault_type,
        at_s=at_s,
        duration_s=duration_s,
        params=freeze(params.data) if params is not None else freeze({}),
    )


def _recovery(table: Table | None) -> Recovery:
    if table is None:
        return Recovery()
    mode = cast(RecoveryMode, table.choice("mode", RECOVERY_MODES, "automatic"))
    steps = []
    for step_table in table.tables("steps"):
        params = step_table.table("params")
        steps.append(
            RecoveryStep(
                action=step_table.string("action", required=True),
                after_s=step_table.duration("after_s", 0.0, zero_ok=True),
                params=freeze(params.data) if params is not None else freeze({}),
            )
        )
        step_table.finish()
    table.finish()
    if mode == "runbook" and not steps:
        raise table.error('mode "runbook" needs at least one [[recovery.steps]]', "steps")
    if mode == "automatic" and steps:
        raise table.error('steps are only for mode "runbook"; use mode = "runbook"', "steps")
    return Recovery(mode=mode, steps=tuple(sorted(steps, key=lambda step: step.after_s)))


def _objectives(table: Table | None) -> Objectives:
    if table is None:
        return Objectives()
    objectives = Objectives(
        rto_s=table.opt_duration("rto_s", zero_ok=True),
        rpo_s=table.opt_duration("rpo_s", zero_ok=True),
        containment_s=table.opt_duration("containment_s", zero_ok=True),
    )
    table.finish()
    return objectives


def _deployment(table: Table | None, target: Target) -> DeploymentSpec:
    if table is None:
        return DeploymentSpec()
    if target.kind != "deployment":
        raise table.error('only for target = "deployment"', None)
    defaults = DeploymentSpec()
    spec = DeploymentSpec(
        regions=table.integer("regions", defaults.regions, low=1, high=8),
        processes_per_region=table.integer(
            "processes_per_region", defaults.processes_per_region, low=1, high=16
        ),
        seed_items=table.integer("seed_items", defaults.seed_items, low=1, high=10_000_000),
        standby_interval_s=table.duration("standby_interval_s", defaults.standby_interval_s),
        backup_interval_s=table.duration("backup_interval_s", defaults.backup_interval_s),
        keep_backups=table.integer("keep_backups", defaults.keep_backups, low=1, high=1000),
        database=table.choice("database", ("sqlite", "postgresql"), defaults.database),
        synchronous_replication=table.boolean("synchronous_replication", False),
        replication_lag_ms=table.integer("replication_lag_ms", 0, low=0, high=60_000),
        patroni_ttl_s=table.integer("patroni_ttl_s", defaults.patroni_ttl_s, low=3, high=300),
        front_door=table.choice("front_door", ("auto", "haproxy", "router"), defaults.front_door),
    )
    table.finish()
    return spec
