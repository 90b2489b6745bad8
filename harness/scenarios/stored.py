"""A scenario's stored form: the JSON the runner keeps in run.json as `config.scenario`.

`scenario_to_dict` gives plain data that `scenario_from_mapping` reads back into the same
scenario, except for secrets: a run file never holds one (harness.redaction), so the
values of a command's `env` and a webhook's `headers` are redacted (their names kept), and
so are tokens and URL secrets in every string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from harness.aborts import stored_entries
from harness.redaction import redact_strings, redact_text, redact_values
from harness.rundir.thresholds import expressions
from harness.scenarios.model import Scenario, thaw

SECRET_TABLES = ("env", "headers")
"""Tables of params whose values are secrets as often as not (a command's environment, a
webhook's headers): stored with their names and every value redacted."""


def stored_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A fault's or step's params as run.json keeps them: `SECRET_TABLES` values redacted
    (names kept), tokens and URL secrets in every string redacted (harness.redaction)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in SECRET_TABLES and isinstance(value, Mapping):
            out[key] = redact_values(value)
        elif isinstance(value, Mapping):
            out[key] = stored_params(value)
        else:
            out[key] = redact_strings(thaw(value))
    return out


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain JSON data, readable back by `scenario_from_mapping`.

    This is what the runner stores in run.json as `config.scenario`, so it holds no secret:
    see `stored_params`. Durations are seconds.
    """
    steady = scenario.steady_state
    steady_dict: dict[str, Any] = {
        "success_rate": steady.success_rate,
        "min_requests": steady.min_requests,
        "max_silence_s": "auto" if steady.max_silence_s is None else steady.max_silence_s,
    }
    for limit in steady.latency_ms:
        steady_dict[limit.key] = limit.max_ms
    if steady.probe is not None:
        probe = steady.probe
        steady_dict["probe"] = {
            ("path" if probe.url.startswith("/") else "url"): redact_text(probe.url),
            "expect_status": probe.expect_status,
            "timeout_s": probe.timeout_s,
            "interval_s": probe.interval_s,
            "name": probe.name,
        }
    fault = scenario.fault
    fault_dict: dict[str, Any] = {"type": fault.type, "params": stored_params(fault.params)}
    if fault.at_s is not None:
        fault_dict["at_s"] = fault.at_s
    if fault.duration_s is not None:
        fault_dict["duration_s"] = fault.duration_s
    out: dict[str, Any] = {
        "name": scenario.name,
        "description": scenario.description,
        "profile": scenario.profile.name or thaw(scenario.profile.inline),
        "target": "deployment"
        if scenario.target.kind == "deployment"
        else redact_text(scenario.target.url or ""),
        "phases": asdict(scenario.phases),
        "steady_state": steady_dict,
        "fault": fault_dict,
        "recovery": {
            "mode": scenario.recovery.mode,
            "steps": [
                {"action": s.action, "after_s": s.after_s, "params": stored_params(s.params)}
                for s in scenario.recovery.steps
            ],
        },
        "thresholds": stored_entries(tuple(expressions(scenario.thresholds)), scenario.aborts),
        "objectives": {k: v for k, v in asdict(scenario.objectives).items() if v is not None},
    }
    if scenario.target.kind == "deployment":
        out["deployment"] = asdict(scenario.deployment)
    if scenario.locustfile is not None:
        out["locustfile"] = scenario.locustfile
    if scenario.readback is not None:
        out["readback"] = thaw(scenario.readback)
    return out
