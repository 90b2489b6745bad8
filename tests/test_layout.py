"""The design's rules on the package's shape, checked rather than hoped.

`lint-imports` checks the import contracts of pyproject.toml (lazy imports included);
what it cannot see, `importlib` and `except ImportError`, is checked here on the source.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "harness"


def _lines(folder: Path, pattern: str) -> list[str]:
    found = re.compile(pattern)
    return [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(folder.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if found.search(line)
    ]


def test_the_package_has_no_if_installed_fallbacks() -> None:
    # A missing part is a broken install (exit 3), never a silent pass.
    assert _lines(PACKAGE, r"except\s*\(?[^:]*\b(ImportError|ModuleNotFoundError)\b") == []


@pytest.mark.parametrize("part", ["analysis", "report", "rundir"])
def test_analysis_and_report_import_nothing_dynamically(part: str) -> None:
    # import-linter cannot follow importlib: these parts read only the run directory.
    assert _lines(PACKAGE / part, r"\bimportlib\b|__import__\(") == []


def test_the_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports")
    assert lint is not None, "import-linter is a dev dependency: pip install -e '.[dev]'"
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]


def test_judging_a_scenario_run_loads_no_service_topology_fault_or_load_code(
    tmp_path: Path,
) -> None:
    # The report reads a run directory; it must not drag the system under test along.
    run_dir = tmp_path / "scenario"
    shutil.copytree(ROOT / "tests" / "fixtures" / "rundir_v1" / "scenario", run_dir)
    code = (
        "import sys; from pathlib import Path; import harness;"
        f"harness.judge(Path({str(run_dir)!r}));"
        "parts = ('harness.service', 'harness.topology', 'harness.faults', 'harness.load',"
        " 'harness.runner', 'locust', 'gevent');"
        "print(sorted(m for m in sys.modules if m.startswith(parts)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
    assert (run_dir / "report.html").is_file() and (run_dir / "junit.xml").is_file()
