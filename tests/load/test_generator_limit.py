"""A load generator starved of CPU is reported saturated, and Extreme says the generator,
not the target, was the limit: `harness run` pinned with `taskset` to CPU 0, where two
busy loops of the test's own also run, steps an arrival rate up against a fast loopback
target on the other CPU."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.rundir import iter_jsonl
from harness.testing import finish
from tests.loopback_target import answering, caller_locustfile, serving

LOCUSTFILE = caller_locustfile(5)

PROFILE = """
name = "extreme-small"
[extreme]
start_rate_per_s = 100
step_factor = 2
step_duration = "6s"
settle = "1s"
max_steps = 6
per_user_rate_per_s = 5
[objectives]
p95_ms = 5000
error_rate = 0.5
"""


@pytest.fixture
def target() -> Iterator[str]:
    """A loopback target answering 200 at once (threads, keep-alive)."""
    with serving(answering(lambda: 200)) as url:
        yield url


@pytest.fixture
def busy_cpu0() -> Iterator[None]:
    """Two busy loops pinned to CPU 0 (stopped by their own handles at the end)."""
    loops = [
        subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
        for _ in range(2)
    ]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset (util-linux)")
def test_a_starved_generator_is_the_limit_extreme_reports(
    tmp_path: Path, target: str, busy_cpu0: None
) -> None:
    (tmp_path / "users.py").write_text(LOCUSTFILE, encoding="utf-8")
    (tmp_path / "extreme.toml").write_text(PROFILE, encoding="utf-8")
    run_dir = tmp_path / "run"
    argv = ["taskset", "-c", "0", sys.executable, "-m", "harness", "run", "--host", target,
            "--locustfile", str(tmp_path / "users.py"), "--profile",
            str(tmp_path / "extreme.toml"), "--workers", "1", "--out", str(run_dir)]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, out, err = finish(process, 180.0)
    assert code == 0, out + err
    events = list(iter_jsonl(run_dir / "events.jsonl"))
    saturated = [e for e in events if e["kind"] == "generator_saturated"]
    assert saturated and saturated[0]["process"].startswith("worker ")
    steps = [e for e in events if e["kind"] == "extreme_step"]
    assert steps[-1]["outcome"] == "generator" and not steps[-1]["held"]
    assert not [e for e in events if e["kind"] == "extreme_break"]  # the target never broke
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["generator"]["saturated"] is True
    assert summary["extreme"]["limit"] == "generator"
    held = [s["rate_per_s"] for s in steps if s["outcome"] == "held"]
    assert summary["extreme"]["highest_held_rate_per_s"] == (max(held) if held else 0.0)
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "GENERATOR SATURATED" in report and "load generator was saturated" in report
    busy = [json.loads(line) for line in (run_dir / "cpu.jsonl").read_text().splitlines()]
    assert any(b["role"] == "worker" and b["cpu_pct"] + b["wait_pct"] >= 90 for b in busy)
    assert "limit: the load generator was saturated" in out
