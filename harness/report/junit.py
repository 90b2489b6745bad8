"""JUnit XML from summaries: one testsuite per run or scenario, one testcase per threshold.

CI systems (GitHub Actions reporters, GitLab, Jenkins) read this format: a failed
threshold is a `<failure>` whose message is the threshold's own ("observed 312.4 ms >
limit 250 ms"); a run that itself failed is an `<error>` testcase named `run`. Built with
xml.etree.ElementTree, so names and messages are always escaped correctly.
"""

from __future__ import annotations

import datetime as dt
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def junit_suite(summary: Mapping[str, Any], suite_name: str) -> ET.Element:
    """The `<testsuite>` of one run: a `run` testcase, then one testcase per threshold."""
    thresholds: Sequence[Mapping[str, Any]] = summary.get("thresholds") or ()
    failed = sum(1 for t in thresholds if not t.get("ok"))
    run_failed = summary.get("status") == "failed" or summary.get("verdict") == "error"
    suite = ET.Element(
        "testsuite",
        {
            "name": suite_name,
            "tests": str(len(thresholds) + 1),
            "failures": str(failed),
            "errors": str(int(run_failed)),
            "skipped": "0",
            "time": _seconds(summary.get("duration_s")),
        },
    )
    started = summary.get("started_at")
    if isinstance(started, int | float):
        stamp = dt.datetime.fromtimestamp(started, dt.UTC).replace(tzinfo=None)
        suite.set("timestamp", stamp.isoformat(timespec="seconds"))
    properties = ET.SubElement(suite, "properties")
    for key in ("run_id", "scenario", "profile", "status", "complete", "verdict"):
        value = summary.get(key)
        if value is not None:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            ET.SubElement(properties, "property", {"name": key, "value": text})
    suite.append(_run_case(summary, suite_name, run_failed))
    for threshold in thresholds:
        suite.append(_threshold_case(threshold, suite_name))
    return suite


def _run_case(summary: Mapping[str, Any], suite_name: str, run_failed: bool) -> ET.Element:
    case = ET.Element("testcase", {"classname": suite_name, "name": "run", "time": "0"})
    status = str(summary.get("status") or "unknown")
    if run_failed:
        message = str(summary.get("error") or f"the run failed (status {status})")
        error = ET.SubElement(case, "error", {"message": message, "type": "RunFailed"})
        error.text = message
    else:
        out = ET.SubElement(case, "system-out")
        complete = "complete" if summary.get("complete") else "incomplete"
        out.text = f"status {status} ({complete}), verdict {summary.get('verdict')}"
    return case


def _threshold_case(threshold: Mapping[str, Any], suite_name: str) -> ET.Element:
    name = str(threshold.get("expr") or threshold.get("metric") or "threshold")
    case = ET.Element("testcase", {"classname": suite_name, "name": name, "time": "0"})
    message = str(threshold.get("message") or "")
    if not threshold.get("ok"):
        failure = ET.SubElement(case, "failure", {"message": message, "type": "threshold"})
        failure.text = f"{name}: {message}"
    else:
        ET.SubElement(case, "system-out").text = message
    return case


def junit_document(suites: Sequence[tuple[str, Mapping[str, Any]]], name: str) -> ET.ElementTree:
    """A `<testsuites>` document of several (suite name, summary) pairs."""
    root = ET.Element("testsuites", {"name": name})
    totals = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0
    for suite_name, summary in suites:
        suite = junit_suite(summary, suite_name)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        seconds += float(suite.get("time", "0"))
        root.append(suite)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(summary: Mapping[str, Any], path: Path, suite_name: str) -> None:
    """Write the JUnit XML of one run (a `<testsuites>` holding its one testsuite)."""
    write_junit_suite([(suite_name, summary)], path, suite_name)


def write_junit_suite(
    suites: Sequence[tuple[str, Mapping[str, Any]]], path: Path, name: str = "harness"
) -> None:
    """Write the JUnit XML of several runs (a suite of scenarios), one testsuite each.

    Written to a temporary file and renamed, so a reader never sees half a document.
    """
    tree = junit_document(suites, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)


def suite_name_of(summary: Mapping[str, Any]) -> str:
    """The testsuite name a summary gets by default: its scenario, else its run id."""
    return str(summary.get("scenario") or summary.get("run_id") or "run")


def _seconds(value: Any) -> str:
    return f"{float(value):.3f}" if isinstance(value, int | float) else "0"
