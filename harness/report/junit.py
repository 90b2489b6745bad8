"""JUnit XML from summaries: one testsuite per run or scenario, one testcase per threshold.

CI systems (GitHub Actions reporters, GitLab, Jenkins) read this format: a failed
threshold is a `<failure>` whose message is the threshold's own ("observed 312.4 ms >
limit 250 ms"); a run that itself failed is an `<error>` testcase named `run`, and an
interrupted or unfinished run (verdict `incomplete`) a `<failure>` of that testcase, and so
is a run an abort rule stopped (verdict `aborted`, type `RunAborted`, naming the rule). Built
with xml.etree.ElementTree, so names and messages are always escaped correctly.
"""

from __future__ import annotations

import datetime as dt
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.rundir import RunStatus, Summary, ThresholdRow, Verdict, as_summary

SummaryLike = Summary | Mapping[str, object]


def junit_suite(summary: SummaryLike, suite_name: str) -> ET.Element:
    """The `<testsuite>` of one run: a `run` testcase, then one testcase per threshold."""
    s = as_summary(summary)
    stopped = s.verdict in (Verdict.INCOMPLETE, Verdict.ABORTED)
    failed = len(s.failed_thresholds) + int(stopped)
    run_failed = s.status is RunStatus.FAILED or s.verdict is Verdict.ERROR
    suite = ET.Element(
        "testsuite",
        {
            "name": suite_name,
            "tests": str(len(s.thresholds) + 1),
            "failures": str(failed),
            "errors": str(int(run_failed)),
            "skipped": "0",
            "time": f"{s.duration_s:.3f}",
        },
    )
    if s.started_at is not None:
        stamp = dt.datetime.fromtimestamp(s.started_at, dt.UTC).replace(tzinfo=None)
        suite.set("timestamp", stamp.isoformat(timespec="seconds"))
    properties = ET.SubElement(suite, "properties")
    facts: tuple[tuple[str, str | None], ...] = (
        ("run_id", s.run_id or None),
        ("scenario", s.scenario),
        ("profile", s.profile),
        ("status", s.status.value),
        ("complete", str(s.complete).lower()),
        ("verdict", s.verdict.value),
    )
    for key, value in facts:
        if value is not None:
            ET.SubElement(properties, "property", {"name": key, "value": value})
    suite.append(_run_case(s, suite_name, run_failed))
    for threshold in s.thresholds:
        suite.append(_threshold_case(threshold, suite_name))
    return suite


def _run_case(s: Summary, suite_name: str, run_failed: bool) -> ET.Element:
    case = ET.Element("testcase", {"classname": suite_name, "name": "run", "time": "0"})
    status = s.status.value
    if run_failed:
        message = s.error or f"the run failed (status {status})"
        error = ET.SubElement(case, "error", {"message": message, "type": "RunFailed"})
        error.text = message
    elif s.verdict is Verdict.ABORTED:
        why = f"{s.abort.threshold} ({s.abort.source}): {s.abort.message}" if s.abort else "?"
        message = f"ABORTED: the run stopped itself: {why}"
        failure = ET.SubElement(case, "failure", {"message": message, "type": "RunAborted"})
        failure.text = message
    elif s.verdict is Verdict.INCOMPLETE:
        message = f"the run did not finish (status {status}): an incomplete run never passes"
        failure = ET.SubElement(case, "failure", {"message": message, "type": "RunIncomplete"})
        failure.text = message
    else:
        out = ET.SubElement(case, "system-out")
        complete = "complete" if s.complete else "incomplete"
        out.text = f"status {status} ({complete}), verdict {s.verdict.value}"
    return case


def _threshold_case(threshold: ThresholdRow, suite_name: str) -> ET.Element:
    name = threshold.expr or threshold.metric or "threshold"
    case = ET.Element("testcase", {"classname": suite_name, "name": name, "time": "0"})
    message = threshold.message
    if not threshold.ok:
        failure = ET.SubElement(case, "failure", {"message": message, "type": "threshold"})
        failure.text = f"{name}: {message}"
    else:
        ET.SubElement(case, "system-out").text = message
    return case


def junit_document(suites: Sequence[tuple[str, SummaryLike]], name: str) -> ET.ElementTree:
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


def write_junit(summary: SummaryLike, path: Path, suite_name: str) -> None:
    """Write the JUnit XML of one run (a `<testsuites>` holding its one testsuite)."""
    write_junit_suite([(suite_name, summary)], path, suite_name)


def write_junit_suite(
    suites: Sequence[tuple[str, SummaryLike]], path: Path, name: str = "harness"
) -> None:
    """Write the JUnit XML of several runs (a suite of scenarios), one testsuite each.

    Written to a temporary file and renamed, so a reader never sees half a document.
    """
    tree = junit_document(suites, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)


def suite_name_of(summary: SummaryLike) -> str:
    """The testsuite name a summary gets by default: its scenario, else its run id."""
    return as_summary(summary).name or "run"
