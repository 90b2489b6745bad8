"""`harness gate` through the real command line: exit codes, files, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import JUnitXml

from harness.cli import main
from harness.errors import ConfigError
from harness.report.judge import judge
from harness.report.tables import result_table
from harness.rundir import read_json
from harness.testing import make_run_dir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run_dir(tmp_path / "run", duration_s=8, failure_windows=[(2, 3, 0.2)]).path


def _gate(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["gate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_pass(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _gate(
        [str(run_dir), "--threshold", "p(95)<5s", "--threshold", "error_rate<50%"], capsys
    )
    assert code == 0 and err == ""
    assert "verdict: PASS" in out and "p(95)<5s" in out
    summary = read_json(run_dir / "summary.json")
    assert summary["verdict"] == "pass" and len(summary["thresholds"]) == 2
    xml = JUnitXml.fromfile(str(run_dir / "junit.xml"))
    assert (xml.tests, xml.failures, xml.errors) == (3, 0, 0)


def test_fail(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit, markdown = tmp_path / "out" / "gate.xml", tmp_path / "out" / "gate.md"
    code, out, err = _gate(
        [
            str(run_dir),
            "--threshold",
            "failures==0",
            "--junit",
            str(junit),
            "--markdown",
            str(markdown),
        ],
        capsys,
    )
    assert code == 1 and err == ""
    assert "FAIL  failures==0" in out and "verdict: FAIL" in out
    assert JUnitXml.fromfile(str(junit)).failures == 1
    assert "❌ FAIL" in markdown.read_text()
    assert not (run_dir / "junit.xml").exists()


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--threshold", "p(95)<"], "missing the limit after '<'"),
        (["--threshold", "foo<1"], "unknown metric 'foo'"),
        (["--threshold", "p(95)<+10%"], "needs a baseline run"),
        (["--baseline", "/nonexistent/base"], "not a run directory"),
        (["--thresholds", "/nonexistent/t.toml"], "cannot read thresholds file"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    run_dir: Path, argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _gate([str(run_dir), *argv], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("harness gate: error: ")
    assert complaint in err and "Traceback" not in err
    assert not (run_dir / "summary.json").exists()


def test_not_a_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _gate([str(tmp_path)], capsys)
    assert code == 2 and "not a run directory (no run.json)" in err


def test_failed_run_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run_dir(tmp_path / "failed", duration_s=3, status="failed")
    code, _out, err = _gate([str(run.path), "--threshold", "p(95)<10s"], capsys)
    assert code == 3 and "the run itself failed: synthetic failure" in err
    xml = JUnitXml.fromfile(str(run.path / "junit.xml"))
    assert xml.errors == 1


def test_thresholds_file_and_run_json_thresholds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=4, thresholds=["requests>1"])
    file = tmp_path / "gate.toml"
    file.write_text('thresholds = ["GET /api/items: p(99)<10s", "rps<1"]\n')
    code, _out, _err = _gate([str(run.path), "--thresholds", str(file)], capsys)
    assert code == 1
    summary = read_json(run.path / "summary.json")
    assert [t["expr"] for t in summary["thresholds"]] == [
        "requests>1",
        "GET /api/items: p(99)<10s",
        "rps<1",
    ]
    assert [t["ok"] for t in summary["thresholds"]] == [True, True, False]


def test_an_unfinished_run_never_passes_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run_dir(tmp_path / "cut", duration_s=4, complete=False)
    code, out, err = _gate([str(run.path), "--threshold", "p(95)<10s"], capsys)
    assert code == 4 and "verdict: INCOMPLETE" in out and "never passes" in err
    summary = read_json(run.path / "summary.json")
    assert summary["complete"] is False and summary["verdict"] == "incomplete"
    suite = JUnitXml.fromfile(str(run.path / "junit.xml"))
    assert suite.failures == 1 and suite.tests == 2


@pytest.mark.parametrize("status", ["interrupted", "running"])
def test_an_interrupted_run_with_no_thresholds_is_incomplete_not_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status: str
) -> None:
    run = make_run_dir(tmp_path / "cut", duration_s=3, status=status, complete=status != "running")
    code, _out, _err = _gate([str(run.path)], capsys)
    assert code == 4
    assert read_json(run.path / "summary.json")["verdict"] == "incomplete"


def test_allow_incomplete_judges_a_partial_run_on_its_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run_dir(tmp_path / "cut", duration_s=4, complete=False)
    code, out, _err = _gate(
        [str(run.path), "--allow-incomplete", "--threshold", "p(95)<10s"], capsys
    )
    assert code == 0 and "(incomplete)" in out
    code, _out, _err = _gate(
        [str(run.path), "--allow-incomplete", "--threshold", "p(95)<1ms"], capsys
    )
    assert code == 1


def test_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run_dir(tmp_path / "base", duration_s=5, seed=1)
    slow = make_run_dir(tmp_path / "slow", duration_s=5, seed=2, latency_ms=(40.0, 0.5))
    code, _out, _err = _gate(
        [str(slow.path), "--baseline", str(base.path), "--threshold", "p(95)<+10%"], capsys
    )
    assert code == 1
    summary = read_json(slow.path / "summary.json")
    assert summary["baseline"]["regression"] is True


def test_library_function_raises_instead_of_exiting(run_dir: Path) -> None:
    result = judge(run_dir, ["p(95)<5s"])
    assert result.verdict == "pass" and result.failed == []
    assert result.junit_path == run_dir / "junit.xml"
    assert result.report_path == run_dir / "report.html" and result.report_path.is_file()
    with pytest.raises(ConfigError):
        judge(run_dir, ["p(95)<"])
    assert "verdict: PASS" in result_table(result.summary)


@pytest.mark.e2e
def test_the_console_script(run_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "gate", str(run_dir), "--threshold", "p(95)<"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "harness", "gate", str(run_dir), "--threshold", "p(95)<5s"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((run_dir / "summary.json").read_text())["verdict"] == "pass"


def test_a_share_of_windows_gates_through_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = make_run_dir(tmp_path / "slow", duration_s=60, slow_windows=[(30.0, 33.0, 20.0)])
    code, out, _err = _gate([str(slow.path), "--threshold", "p(95)[5s,80%]<300ms"], capsys)
    assert code == 0 and "meet the limit" in out
    code, out, _err = _gate([str(slow.path), "--threshold", "p(95)[5s]<300ms"], capsys)
    assert code == 1 and "worst of" in out
    code, _out, err = _gate([str(slow.path), "--threshold", "p(95)[5s,0%]<300ms"], capsys)
    assert code == 2 and "share of windows" in err and "Traceback" not in err
