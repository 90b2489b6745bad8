"""Helpers for real scenario runs: `harness scenario` as a subprocess (Locust's gevent
patching never reaches the test process), a reference service of the test's own, and the
run directory's files. Waits are bounded; nothing sleeps in place of a condition."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.rundir import iter_jsonl
from harness.service.config import ServiceConfig
from harness.service.server import ServiceProcess, start_service
from harness.service.tokens import Keyring
from harness.testing import finish, start_harness

ROLES = ("admin", "user", "viewer", "service")


@dataclass(frozen=True)
class Finished:
    """A finished `harness` process: exit code, output, and how long it took."""

    code: int
    out: str
    err: str
    took_s: float


def run_harness(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 240.0
) -> Finished:
    """Run `python -m harness ARGS` to the end (bounded)."""
    started = time.monotonic()
    code, out, err = finish(start_harness(*args, env=env), timeout_s)
    return Finished(code, out, err, time.monotonic() - started)


def process_state(pid: int) -> str:
    """The state letter of a process (`T` stopped, `S` sleeping, ...), `gone` if it is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat[stat.rindex(")") + 2 :].split()[0]


def token_env(data_dir: Path) -> dict[str, str]:
    """HARNESS_TOKEN_<ROLE> for every role, signed by the service on `data_dir`."""
    keyring = Keyring(data_dir)
    return {f"HARNESS_TOKEN_{r.upper()}": keyring.issue(r, f"test-{r}", 3600) for r in ROLES}


def events(run_dir: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The run's events, of one kind if given."""
    return [e for e in iter_jsonl(run_dir / "events.jsonl") if kind is None or e["kind"] == kind]


def events_or_none(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    """`events`, or [] while the file does not exist yet."""
    return events(run_dir, kind) if (run_dir / "events.jsonl").exists() else []


def summary(run_dir: Path) -> dict[str, Any]:
    """summary.json of a finished run."""
    data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    return data


def write(path: Path, text: str) -> Path:
    """Write a scenario file."""
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def own_service(tmp_path: Path) -> Iterator[ServiceProcess]:
    """A reference service only this test uses (it may stop or kill it)."""
    config = ServiceConfig(port=0, workers=1, data_dir=tmp_path / "svc", seed_items=300)
    with start_service(config, ready_timeout_s=60) as running:
        yield running
