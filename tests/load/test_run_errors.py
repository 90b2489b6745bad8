"""Bad input and runs that cannot start: one line on stderr, the right exit code, no traceback.

Cases found before Locust is imported run in-process through `harness.cli.main`; the rest
(which need Locust to judge a locustfile or to wait for workers) run as subprocesses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def listener() -> Iterator[str]:
    """A loopback TCP listener that accepts connections and never answers: reachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("harness run: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--profile", "nope"], 2, "unknown profile 'nope'"),
        (["--duration", "3x"], 2, "--duration"),
        (["--profile", "light", "--users", "3"], 2, "either --profile or --users"),
        (["--users", "0"], 2, "--users"),
        (["--workers", "0"], 2, "--expect-workers"),
        (["--threshold", "p(95)<<3"], 2, "--threshold"),
        (["--abort-on-fail"], 2, "--abort-on-fail: applies to --threshold flags"),
        (["--threshold", "rto<3s", "--abort-on-fail"], 2, "rto is known only after the run"),
        (["--threshold", "p(95)<1s", "--delay-abort-eval", "3s"], 2, "--delay-abort-eval"),
        (["--host", "ftp://x"], 2, "--host"),
        (["--host", "http://127.0.0.1:{free}"], 3, "unreachable"),
    ],
)
def test_bad_input_before_anything_starts(
    args: list[str], code: int, needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = [a.replace("{free}", str(_free_port())) for a in args]
    locust_before = "locust" in sys.modules
    assert main(["run", "--out", str(tmp_path / "run"), *args]) == code
    line = _one_line_error(capsys.readouterr().err)
    assert needle in line
    assert not (tmp_path / "run").exists()  # nothing was created
    assert locust_before or "locust" not in sys.modules  # judged without importing Locust


def test_locustfile_with_a_syntax_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    assert main(["run", "--locustfile", str(bad)]) == 2
    assert "syntax error at line 1" in _one_line_error(capsys.readouterr().err)


def _harness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "run", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.e2e
def test_locustfile_without_a_user_class(tmp_path: Path, listener: str) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("from locust import HttpUser\nVALUE = 1\n")
    done = _harness("--locustfile", str(empty), "--host", listener, "--out", str(tmp_path / "run"))
    assert done.returncode == 2
    assert "expected at least one User class" in _one_line_error(done.stderr)
    assert not (tmp_path / "run").exists()


@pytest.mark.e2e
def test_a_master_that_never_gets_its_workers(tmp_path: Path, listener: str) -> None:
    run_dir = tmp_path / "run"
    done = _harness(
        "--workers",
        "0",
        "--expect-workers",
        "1",
        "--expect-workers-timeout",
        "1s",
        "--host",
        listener,
        "--out",
        str(run_dir),
        env={"HARNESS_CLUSTER_SECRET": "a-test-secret-of-some-length"},
    )
    assert done.returncode == 3
    assert "waited 1s for 1 workers, 0 joined" in _one_line_error(done.stderr)
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "failed" and "0 joined" in manifest["error"]
