"""Bounded waits on a condition, and `harness` as a subprocess: what real-process tests
share, so none of them sleeps in place of a condition or hangs past its deadline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping


def wait_until(
    condition: Callable[[], object],
    timeout_s: float = 10.0,
    what: str = "the condition",
    interval_s: float = 0.02,
) -> float:
    """Poll `condition` until it is true; the seconds it took.

    AssertionError (a test failure, not an error) naming `what` after `timeout_s`.
    """
    started = time.monotonic()
    while not condition():
        waited_s = time.monotonic() - started
        if waited_s > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(interval_s)
    return time.monotonic() - started


def start_harness(*args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `python -m harness ARGS` with its output captured.

    HARNESS_TOKEN_* variables come only from `env`, never from the caller's environment.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_TOKEN_")}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean, **(env or {})},
    )


def finish(process: subprocess.Popen[str], timeout_s: float = 240.0) -> tuple[int, str, str]:
    """Wait for a started harness (bounded): exit code, stdout, stderr.

    At the deadline the process is killed and AssertionError carries its output.
    """
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"harness did not finish in {timeout_s:g}s:\n{out}\n{err}") from None
    return process.returncode, out, err
