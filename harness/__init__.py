"""Distributed load-and-resilience testing harness.

Importing this package is free: it loads no heavy library and patches nothing. Locust and
gevent are imported only by the processes that generate load or serve. The public API
below is loaded on first use (PEP 562):

    import harness
    judgement = harness.judge("reports/run-1", ["p(95)<250ms"])   # summary, report, JUnit
    summary = harness.read_summary("reports/run-1")                # a typed Summary
    if summary.verdict is harness.Verdict.PASS: ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from harness.errors import ConfigError, HarnessError, RunFailed

if TYPE_CHECKING:
    from harness.report.judge import Judgement, judge
    from harness.rundir import (
        Event,
        EventKind,
        Manifest,
        RunDir,
        RunStatus,
        Summary,
        Verdict,
        read_events,
        read_manifest,
        read_summary,
    )
    from harness.scenarios import Scenario, load_scenario

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "judge": "harness.report.judge",
    "Judgement": "harness.report.judge",
    "Event": "harness.rundir",
    "EventKind": "harness.rundir",
    "Manifest": "harness.rundir",
    "RunDir": "harness.rundir",
    "RunStatus": "harness.rundir",
    "Summary": "harness.rundir",
    "Verdict": "harness.rundir",
    "read_events": "harness.rundir",
    "read_manifest": "harness.rundir",
    "read_summary": "harness.rundir",
    "Scenario": "harness.scenarios",
    "load_scenario": "harness.scenarios",
}

__all__ = [
    "ConfigError",
    "Event",
    "EventKind",
    "HarnessError",
    "Judgement",
    "Manifest",
    "RunDir",
    "RunFailed",
    "RunStatus",
    "Scenario",
    "Summary",
    "Verdict",
    "__version__",
    "judge",
    "load_scenario",
    "read_events",
    "read_manifest",
    "read_summary",
]


def __getattr__(name: str) -> object:
    """Import a public name's module on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
