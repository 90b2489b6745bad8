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


def test_the_wheel_ships_every_profile_so_names_resolve_outside_the_checkout(
    tmp_path: Path,
) -> None:
    # `pip install .` then `harness run --profile light` from any directory: the shipped
    # profiles must be package data, not files the source checkout happens to have.
    import shutil
    import subprocess
    import zipfile

    import harness
    from harness.load.profile_file import SHIPPED_PROFILES, resolve_profile_path

    root = Path(harness.__file__).resolve().parents[1]
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(root / name, source / name)
    shutil.copytree(root / "harness", source / "harness",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(source)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    wheel = next((tmp_path / "dist").glob("*.whl"))
    shipped = {p.name for p in SHIPPED_PROFILES.glob("*.toml")}
    assert {"light.toml", "moderate.toml", "heavy.toml", "extreme.toml"} <= shipped
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"harness/profiles/{name}" for name in shipped} <= names
    # and a name resolves to the package's copy from a directory with no profiles of its own
    assert resolve_profile_path("light", cwd=tmp_path).parent == SHIPPED_PROFILES
    assert SHIPPED_PROFILES.parent == Path(harness.__file__).resolve().parent
