"""A suite: several scenarios in a row, one index page and one JUnit document.

`prepare_suite` checks every scenario first (a bad file stops the suite before anything
starts: exit 2). `run_suite` then runs each one as its own `harness scenario` process into
`<out>/<scenario name>/` (a fresh process each: its gevent patching, signal handlers and
Locust state end with it), whatever the previous one's verdict, and writes
`<out>/index.html` and `<out>/junit.xml`. The suite's exit code is the worst of its runs.
No Locust here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import EXIT_RUN_FAILED, ConfigError
from harness.rundir import RunDir, new_run_id
from harness.rundir.thresholds import Threshold, as_thresholds
from harness.runner.config import DEFAULT_READBACK_TIMEOUT_S, ScenarioRunConfig, prepare_scenario

Echo = Callable[[str], None]
DEFAULT_DIR = Path("scenarios")
CHILD_STOP_TIMEOUT_S = 180.0  # an interrupted scenario stops its load and target in order


@dataclass(frozen=True)
class SuitePlan:
    """The checked scenarios of a suite and where each one writes."""

    out_dir: Path
    scenarios: tuple[ScenarioRunConfig, ...]
    files: tuple[Path, ...]
    duration_s: float | None = None

    def run_dir(self, index: int) -> Path:
        """`<out>/<scenario name>/` of the `index`-th scenario."""
        return self.out_dir / self.scenarios[index].scenario.name


@dataclass(frozen=True)
class SuiteResult:
    """One scenario's outcome in a suite."""

    name: str
    run_dir: Path
    exit_code: int
    verdict: str


def scenario_files(paths: Sequence[Path]) -> list[Path]:
    """The `.toml` files named, or found directly in the folders named (sorted)."""
    files: list[Path] = []
    for path in paths or [DEFAULT_DIR]:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.toml") if p.is_file())
            if not found:
                raise ConfigError("no scenario files (*.toml) in this folder", str(path))
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError("no such file or folder", str(path))
    return list(dict.fromkeys(files))


def prepare_suite(
    paths: Sequence[Path],
    *,
    out_dir: Path | None = None,
    duration_s: float | None = None,
    workers: int = 1,
    thresholds: Sequence[Threshold | str] = (),
    readback_timeout_s: float = DEFAULT_READBACK_TIMEOUT_S,
) -> SuitePlan:
    """Check every scenario and every run directory before anything starts (ConfigError)."""
    files = scenario_files(paths)
    thresholds = as_thresholds(thresholds, "--threshold")  # parsed once for every scenario
    configs = tuple(
        prepare_scenario(
            file,
            duration_s=duration_s,
            workers=workers,
            thresholds=thresholds,
            readback_timeout_s=readback_timeout_s,
        )
        for file in files
    )
    seen: dict[str, Path] = {}
    for file, config in zip(files, configs, strict=True):
        name = config.scenario.name
        if name in seen:
            raise ConfigError(f"scenario name {name!r} is also used by {seen[name]}", str(file))
        seen[name] = file
    plan = SuitePlan(out_dir or Path("reports") / new_run_id("suite"), configs, tuple(files),
                     duration_s)  # fmt: skip
    ensure_new_dir(plan.out_dir)
    return plan


def ensure_new_dir(path: Path) -> None:
    """Refuse a suite folder that exists and holds anything, as `run` and `scenario` do: its
    index.html, junit.xml and run folders would be overwritten or mixed with an older suite's."""
    if path.exists() and not path.is_dir():
        raise ConfigError("expected a directory, found a file", f"--out {path}")
    if path.is_dir() and any(path.iterdir()):
        raise ConfigError("directory is not empty; expected a new or empty one", f"--out {path}")


def scenario_command(plan: SuitePlan, index: int) -> list[str]:
    """The `harness scenario` command line of the `index`-th scenario."""
    config = plan.scenarios[index]
    command = [sys.executable, "-m", "harness", "scenario", str(plan.files[index])]
    command += ["--out", str(plan.run_dir(index)), "--workers", str(config.workers)]
    command += ["--readback-timeout", f"{config.readback_timeout_s:g}s"]
    if plan.duration_s is not None:
        command += ["--duration", f"{plan.duration_s:g}s"]
    for threshold in config.thresholds:
        command += ["--threshold", threshold.expr]
    return command


def run_suite(plan: SuitePlan, echo: Echo = print) -> tuple[list[SuiteResult], int]:
    """Run every scenario, write the index and JUnit; the results and the worst exit code."""
    from harness.report.junit import write_junit_suite
    from harness.report.suite import write_suite_index

    plan.out_dir.mkdir(parents=True, exist_ok=True)
    results: list[SuiteResult] = []
    try:
        for index, config in enumerate(plan.scenarios):
            name = config.scenario.name
            echo(f"== scenario {index + 1}/{len(plan.scenarios)}: {name} ({plan.files[index]})")
            code = _run_child(scenario_command(plan, index))
            summary = _summary(plan.run_dir(index), name)
            results.append(SuiteResult(name, plan.run_dir(index), code, str(summary["verdict"])))
            echo(f"== {name}: {summary['verdict']} (exit {code})")
    finally:  # an interrupted suite still indexes what ran
        write_suite_index(plan.out_dir, [r.run_dir for r in results])
        write_junit_suite(
            [(r.name, _summary(r.run_dir, r.name)) for r in results],
            plan.out_dir / "junit.xml",
            plan.out_dir.name,
        )
    return results, max((r.exit_code for r in results), default=0)


def _run_child(command: list[str]) -> int:
    """Run one scenario process; on Ctrl-C (which it receives too) let it stop in order."""
    process = subprocess.Popen(command)
    try:
        return process.wait()
    except KeyboardInterrupt:
        try:
            process.wait(timeout=CHILD_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(timeout=10.0)
        raise


def _summary(run_dir: Path, name: str) -> dict[str, Any]:
    """The run's summary.json, or an error stand-in when the run never wrote one."""
    path = RunDir(run_dir).summary
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    except (OSError, ValueError):
        pass
    return {
        "scenario": name,
        "status": "failed",
        "verdict": "error",
        "error": f"no summary.json in {run_dir}: the scenario did not run (exit {EXIT_RUN_FAILED})",
        "thresholds": [],
    }
