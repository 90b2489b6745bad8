"""A missing part of the harness is a broken install (exit 3), never a silent pass."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cli import main
from harness.testing import make_run_dir


def test_run_with_its_judging_part_missing_exits_3_not_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A finished run whose summary code cannot be imported: it used to exit 0 unjudged.
    run = make_run_dir(tmp_path / "run", duration_s=3)

    def fake_run_load(config: object, *args: object) -> SimpleNamespace:
        return SimpleNamespace(run_dir=run.path, status="completed", error=None)

    # The load engine imports Locust (gevent patching): never in the test process.
    engine = SimpleNamespace(run_load=fake_run_load)
    monkeypatch.setitem(sys.modules, "harness.load.engine", engine)
    monkeypatch.setitem(sys.modules, "harness.analysis.summary", None)
    monkeypatch.setitem(sys.modules, "harness.report.judge", None)
    code = main(["run", "--users", "1", "--duration", "1s", "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 3
    assert "broken installation" in err and "Traceback" not in err
