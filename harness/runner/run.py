"""`run_scenario(config)`: one scenario from start to end, and its run directory judged.

Order: the run directory; the target (the reference deployment on `<run>/deployment/`, or
the URL); the load (harness.load.engine) with the scenario's timeline as its hook; the
target stopped (always); then summary.json (recovery included), report.html and junit.xml.
Importing this module is free; `run_scenario` imports the load engine, which patches the
process with gevent, before it starts anything (the deployment's threads are greenlets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.rundir import Summary
from harness.runner.config import ScenarioRunConfig

if TYPE_CHECKING:  # the load config imports no Locust, but keep this module's import free
    from harness.load.config import RunConfig
    from harness.load.profiles import Profile
    from harness.runner.target import Target
    from harness.scenarios import Scenario

Echo = Callable[[str], None]
TOKEN_TTL_MARGIN_S = 3600.0


@dataclass(frozen=True)
class ScenarioOutcome:
    """How a scenario run ended: its directory, status and judged summary."""

    run_dir: Path
    status: str
    error: str | None
    summary: Summary


def run_scenario(config: ScenarioRunConfig, echo: Echo = print) -> ScenarioOutcome:
    """Run the scenario and judge it (see the module docstring).

    Raises RunFailed when the target cannot be started or reached, or the load could not
    start at all; a run that started and failed comes back with exit code 3.
    """
    from harness.load.engine import run_load  # gevent patching: before any thread starts
    from harness.load.journal import prepare_run_dir
    from harness.report.judge import judge
    from harness.rundir.writer import EventLog
    from harness.runner.profile import scenario_profile
    from harness.runner.target import start_target
    from harness.runner.timeline import ScenarioTimeline

    scenario = config.scenario
    profile = scenario_profile(scenario)
    _check_no_shape(config)
    if scenario.target.kind == "url":
        from harness.load.launch import check_reachable

        assert scenario.target.url is not None
        check_reachable(scenario.target.url)
    run_dir = prepare_run_dir(config.out_dir).path
    # one owner of events.jsonl for the whole run: the target's events before the load,
    # the load's and the timeline's, and the target's stop after it
    events = EventLog(run_dir / "events.jsonl")
    target: Target | None = None
    try:
        echo(f"scenario {scenario.name}: starting the target ({scenario.target.kind})")
        target = start_target(scenario, run_dir, events)
        echo(f"target ready at {target.url}")
        timeline = ScenarioTimeline(config, target, events, echo)
        load_config = _load_config(config, profile, target, run_dir)
        outcome = run_load(load_config, echo, timeline, events)
    finally:
        if target is not None:
            echo("stopping the target")
            target.stop()
        events.close()
    judgement = judge(run_dir)
    return ScenarioOutcome(run_dir, outcome.status, outcome.error, judgement.summary)


def _check_no_shape(config: ScenarioRunConfig) -> None:
    """A ConfigError, before the run directory or the target exists, when the locustfile
    defines a LoadTestShape: the scenario's profile is fitted to its timeline, and a shape
    would drive the users instead (the load engine refuses the pair, but only once the
    target had started and the run directory held nothing but events.jsonl)."""
    if config.locustfile is None:
        return
    from harness.errors import ConfigError
    from harness.load.locustfile import load_locustfile

    shape_class = load_locustfile(config.locustfile).shape_class
    if shape_class is not None:
        raise ConfigError(
            f"{config.locustfile} defines the LoadTestShape {shape_class.__name__}, which "
            "would drive the load instead of the scenario's profile; a scenario's locustfile "
            "needs none",
            f"{config.scenario.source}: locustfile",
        )


def _load_config(
    config: ScenarioRunConfig, profile: Profile, target: Target, run_dir: Path
) -> RunConfig:
    """The load engine's RunConfig for this scenario against its started target."""
    from harness.load.config import RunConfig

    scenario = config.scenario
    return RunConfig(
        profile=profile,
        profile_name=profile.name,
        workers=config.workers,
        expect_workers=config.workers,
        expect_workers_timeout_s=config.expect_workers_timeout_s,
        host=target.url,
        locustfile=config.locustfile,
        out_dir=run_dir,
        thresholds=config.all_thresholds(),
        argv=config.argv,
        tokens=target.issue_tokens(scenario.duration_s + TOKEN_TTL_MARGIN_S),
        item_ids=target.item_ids,
        kind="scenario",
        scenario_name=scenario.name,
        scenario=_run_json_scenario(scenario),
        topology=target.topology,
        out_dir_prepared=True,
        cluster_secret=config.cluster_secret,
        metrics_bind=config.metrics_bind,
        abort=config.abort,
        service_pids=lambda: target.service_pids(),  # a function: as_json never copies it
        profile_dsn=config.profile_dsn,
        apply_indexes=config.apply_indexes,
    )


def _run_json_scenario(scenario: Scenario) -> dict[str, Any]:
    """The scenario as run.json holds it: read-back secrets (header values, a DSN's
    password) left out."""
    from harness.runner.readback.spec import redacted
    from harness.scenarios import scenario_to_dict

    data = scenario_to_dict(scenario)
    if isinstance(data.get("readback"), dict):
        data["readback"] = redacted(data["readback"])
    return data
