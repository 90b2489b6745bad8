"""Helpers for testing with the harness, shipped as `click.testing` is.

- `make_run_dir(path, ...)`: a realistic synthetic run directory (real HdrHistogram blobs,
  events, ledger, a fault, a lost worker, a torn tail) with the raw samples behind it, so a
  test can check what the analysis or a user's own gate computes against numpy;
- `wait_until(condition, timeout_s, what)`: a bounded wait on a condition, never a sleep;
- `start_harness(*args)` / `finish(process)`: `python -m harness` as a bounded subprocess.

Importing this module loads numpy (the builders need it), but no Locust and no gevent.
"""

from __future__ import annotations

from harness.testing.records import Layout, Stage
from harness.testing.synthetic import DEFAULT_NAMES, FAILURE_KINDS, SyntheticRun, make_run_dir
from harness.testing.waiting import finish, start_harness, wait_until

__all__ = [
    "DEFAULT_NAMES",
    "FAILURE_KINDS",
    "Layout",
    "Stage",
    "SyntheticRun",
    "finish",
    "make_run_dir",
    "start_harness",
    "wait_until",
]
