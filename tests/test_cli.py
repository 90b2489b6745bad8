"""The command line's own contract: help, bad flags, and free imports."""

import subprocess
import sys

import pytest

from harness.cli import main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "COMMAND" in out


def test_unknown_command_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


def test_importing_the_package_patches_nothing() -> None:
    code = (
        "import sys, harness, harness.cli, harness.analysis.histograms, harness.rundir;"
        "import harness.ledger;"
        "import harness.cli as c; c.build_parser();"
        "bad = [m for m in ('locust', 'gevent') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
