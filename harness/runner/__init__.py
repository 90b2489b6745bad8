"""The scenario runner: a real failure injected while a realistic load runs, and recovery
measured from the clients' side (RTO) together with the acknowledged writes lost (RPO).

- `prepare_scenario(path, ...)` -> `ScenarioRunConfig`: load and check everything first
  (a bad scenario is a ConfigError, exit 2, before anything starts);
- `run_scenario(config)` -> `ScenarioOutcome` (harness.runner.run): target, load with the
  timeline (harness.runner.timeline) as its hook, target stopped, run directory judged;
- `run_suite(...)` (harness.runner.suite): several scenarios in a row, an index and JUnit.

Importing this package imports neither Locust nor gevent; `run_scenario` does.
See docs/runner.md.
"""

from harness.runner.config import ScenarioRunConfig, prepare_scenario, scenario_thresholds

__all__ = ["ScenarioRunConfig", "prepare_scenario", "scenario_thresholds"]
