"""JUnit XML that JUnit consumers read: checked with junitparser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from junitparser import Error, Failure, JUnitXml

from harness.report.junit import suite_name_of, write_junit, write_junit_suite


def _summary(**changes: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "schema": 1,
        "run_id": "run-1",
        "scenario": None,
        "profile": "light",
        "status": "completed",
        "complete": True,
        "started_at": 1_700_000_000.0,
        "duration_s": 61.5,
        "verdict": "fail",
        "thresholds": [
            {"expr": "p(95)<250ms", "ok": False, "message": "observed 312.4 ms > limit 250 ms"},
            {
                "expr": "GET /api/items: error_rate<1%",
                "ok": True,
                "message": "observed 0.2% < limit 1%",
            },
            {"expr": "rto<30s", "ok": False, "message": "rto not measured"},
        ],
    }
    summary.update(changes)
    return summary


def test_one_testcase_per_threshold_and_failure_messages(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(_summary(), path, 'light profile <&> "quotes"')
    xml = JUnitXml.fromfile(str(path))
    assert (xml.tests, xml.failures, xml.errors) == (4, 2, 0)
    (suite,) = list(xml)
    assert suite.name == 'light profile <&> "quotes"' and suite.time == 61.5
    cases = {case.name: case for case in suite}
    assert list(cases) == ["run", "p(95)<250ms", "GET /api/items: error_rate<1%", "rto<30s"]
    (failure,) = cases["p(95)<250ms"].result
    assert isinstance(failure, Failure)
    assert failure.message == "observed 312.4 ms > limit 250 ms"
    assert cases["GET /api/items: error_rate<1%"].is_passed
    assert cases["rto<30s"].result[0].message == "rto not measured"
    properties = {p.name: p.value for p in suite.properties()}
    assert properties["run_id"] == "run-1" and properties["verdict"] == "fail"


def test_a_failed_run_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    summary = _summary(status="failed", verdict="error", error="target unreachable", thresholds=[])
    write_junit(summary, path, "run-1")
    xml = JUnitXml.fromfile(str(path))
    assert (xml.tests, xml.failures, xml.errors) == (1, 0, 1)
    (case,) = list(next(iter(xml)))
    assert isinstance(case.result[0], Error) and case.result[0].message == "target unreachable"


def test_a_suite_of_scenarios(tmp_path: Path) -> None:
    path = tmp_path / "suite" / "junit.xml"
    passing = _summary(
        scenario="api-failure",
        verdict="pass",
        thresholds=[{"expr": "rto<30s", "ok": True, "message": "observed 12 s < limit 30 s"}],
    )
    failing = _summary(scenario="database-failover")
    write_junit_suite([(suite_name_of(s), s) for s in (passing, failing)], path, "dr-suite")
    xml = JUnitXml.fromfile(str(path))
    assert [s.name for s in xml] == ["api-failure", "database-failover"]
    assert (xml.tests, xml.failures, xml.errors) == (6, 2, 0)
    assert not list(path.parent.glob(".*.tmp"))


def test_an_aborted_run_is_a_failed_run_testcase_naming_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    abort = {
        "threshold": "error_rate<5%",
        "source": "s.toml: thresholds",
        "t": 1.7e9,
        "message": "observed 15% on the data through +4 s; limit < 5%",
        "observed": 15.0,
    }
    write_junit(_summary(status="aborted", verdict="aborted", abort=abort), path, "s")
    case = next(c for c in next(iter(JUnitXml.fromfile(str(path)))) if c.name == "run")
    failure = case.result[0]
    assert isinstance(failure, Failure) and failure.type == "RunAborted"
    assert "error_rate<5%" in failure.message and "s.toml: thresholds" in failure.message
