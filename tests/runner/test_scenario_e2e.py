"""Real scenario runs against a reference service the test starts (target = its URL):
a SIGSTOP of known length measured as RTO, a target that never recovers, a steady state
that fails before the fault, bad input, and a suite (one of whose faults cannot be injected)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from harness.service.server import ServiceProcess
from harness.testing import finish, start_harness, wait_until
from tests.loopback_target import QuietHandler, serving

from .conftest import (
    events,
    events_or_none,
    process_state,
    run_harness,
    summary,
    token_env,
    write,
)

STOP_S = 3.0

# 8 paced users at 80 req/s: about 8 completions per 100 ms slot, so a 100 ms silence
# marks the stop to the slot while a healthy second never holds an empty slot.
PROFILE = 'profile = {{ stages = [{{ duration = "1s", users = {users}, rate_per_s = {rate} }}] }}'


def scenario(name: str, url: str, fault: str, phases: str, steady: str = "", top: str = "",
             users: int = 8, rate: int = 80) -> str:  # fmt: skip
    """A scenario file's text against `url`."""
    return "\n".join(
        [f'name = "{name}"', f'target = "{url}"', PROFILE.format(users=users, rate=rate), top,
         "[phases]", phases, "[steady_state]", steady or "success_rate = 0.99", "[fault]", fault]
    )  # fmt: skip


@pytest.mark.e2e
def test_rto_of_a_sigstop_of_known_length(tmp_path: Path, own_service: ServiceProcess) -> None:
    text = scenario(
        "sigstop",
        own_service.url,
        f'type = "signal"\nduration_s = {STOP_S}\n'
        f'params = {{ pid = {own_service.pid}, signal = "SIGSTOP", group = true }}',
        "warmup_s = 3\nsteady_check_s = 3\nobserve_s = 8\ncooldown_s = 1\nwindow_s = 2",
        'success_rate = 0.99\nmax_silence_s = "100ms"',
    )
    run_dir = tmp_path / "run"
    done = run_harness("scenario", str(write(tmp_path / "s.toml", text)), "--out", str(run_dir),
                       env=token_env(own_service.config.data_dir))  # fmt: skip
    assert done.code == 0, done.out + done.err
    recovery = summary(run_dir)["recovery"]
    injected, cleared = events(run_dir, "fault_injected")[0], events(run_dir, "fault_cleared")[0]
    assert cleared["t"] - injected["t"] == pytest.approx(STOP_S, abs=0.05)
    assert recovery["rto_s"] == pytest.approx(STOP_S, abs=0.2), recovery
    assert recovery["lost_writes"] == 0 and recovery["acknowledged_writes"] > 0
    assert (run_dir / "report.html").is_file() and (run_dir / "junit.xml").is_file()
    assert "RTO" in done.out and str(run_dir) in done.out
    names = [e["name"] for e in events(run_dir, "phase")]
    assert names == ["warmup", "steady_check", "observe", "verify", "cooldown"]


@pytest.mark.e2e
def test_a_target_that_never_recovers(tmp_path: Path, own_service: ServiceProcess) -> None:
    text = scenario(
        "gone",
        own_service.url,
        'type = "command"\n'
        f'params = {{ command = ["kill", "-s", "KILL", "--", "-{own_service.pid}"] }}',
        "warmup_s = 2\nsteady_check_s = 2\nobserve_s = 5\ncooldown_s = 0.5\nwindow_s = 2",
        users=4,
        rate=40,
    )
    run_dir = tmp_path / "run"
    path = write(tmp_path / "s.toml", text)
    done = run_harness("scenario", str(path), "--out", str(run_dir), "--readback-timeout", "2s",
                       env=token_env(own_service.config.data_dir))  # fmt: skip
    assert done.code == 1, done.out + done.err
    result = summary(run_dir)
    assert result["verdict"] == "fail" and result["recovery"]["rto_s"] is None
    assert result["recovery"]["lost_writes"] is None  # the read-back could not reach it
    assert [t["ok"] for t in result["thresholds"]] == [False]
    assert "not recovered" in done.out
    # It stops at the end of its timeline rather than waiting for a recovery: 5 s observed,
    # a 2 s read-back, 0.5 s cooldown. Timed from the injection, so that the start-up and the
    # report, which take several times longer on a busy machine, are not counted.
    injected, stopped = events(run_dir, "fault_injected")[0], events(run_dir, "run_stopped")[0]
    assert stopped["t"] - injected["t"] < 30, (injected, stopped)


@pytest.mark.e2e
def test_no_injection_when_the_steady_state_fails_first(
    tmp_path: Path, service: ServiceProcess
) -> None:
    marker = tmp_path / "injected"
    text = scenario(
        "unsteady",
        service.url,
        f'type = "command"\nparams = {{ command = "touch {marker}" }}',
        "warmup_s = 1\nsteady_check_s = 2\nobserve_s = 3\ncooldown_s = 0.5\nwindow_s = 1",
        "success_rate = 0.99\np50_ms = 0.001",
        users=2,
        rate=10,
    )
    run_dir = tmp_path / "run"
    done = run_harness("scenario", str(write(tmp_path / "s.toml", text)), "--out", str(run_dir),
                       env=token_env(service.config.data_dir))  # fmt: skip
    assert done.code == 1, done.out + done.err
    assert not marker.exists()
    steady = events(run_dir, "steady_state")
    assert len(steady) == 1 and steady[0]["ok"] is False and "p50" in steady[0]["detail"]
    assert events(run_dir, "fault_injected") == []
    assert summary(run_dir)["verdict"] == "fail"
    assert "not injected" in done.out


@pytest.mark.e2e
def test_bad_input_exits_2_before_anything_starts(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", scenario(
        "bad", "http://127.0.0.1:9", 'type = "signal"\nparams = { pid = 1, signal = "SIGSTPO" }',
        "warmup_s = 1"))  # fmt: skip
    done = run_harness("scenario", str(path), "--out", str(tmp_path / "run"))
    assert done.code == 2
    assert "bad.toml: fault.params.signal" in done.err and "Traceback" not in done.err
    assert len(done.err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
    missing = run_harness("scenario", str(tmp_path / "nope.toml"))
    assert missing.code == 2 and "no such scenario file" in missing.err


@pytest.mark.e2e
def test_suite_runs_every_scenario_and_exits_with_the_worst(
    tmp_path: Path, service: ServiceProcess
) -> None:
    # Its second scenario's fault cannot be injected: that run fails (exit 3, verdict error)
    # after its rollback ran, and the suite goes on, exiting with that worst code.
    phases = "warmup_s = 1\nsteady_check_s = 1\nobserve_s = 3\ncooldown_s = 0.5\nwindow_s = 1"
    folder, rolled_back = tmp_path / "scenarios", tmp_path / "rolled-back"
    folder.mkdir()
    write(folder / "a-ok.toml", scenario("a-ok", service.url, 'type = "command"\n'
          'params = { command = "true" }', phases, users=2, rate=10))  # fmt: skip
    write(folder / "b-broken.toml", scenario("b-broken", service.url, 'type = "command"\n'
          f'params = {{ command = "echo cannot >&2; exit 7", revert = "touch {rolled_back}" }}',
          phases, users=2, rate=10))  # fmt: skip
    out = tmp_path / "suite"
    done = run_harness("suite", str(folder), "--out", str(out), "--readback-timeout", "5s",
                       env=token_env(service.config.data_dir))  # fmt: skip
    assert done.code == 3, done.out + done.err
    assert summary(out / "a-ok")["verdict"] == "pass"
    failed = events(out / "b-broken", "fault_failed")
    assert failed and failed[0]["phase"] == "inject" and "cannot" in failed[0]["detail"]
    assert events(out / "b-broken", "fault_cleared") and rolled_back.exists()
    assert "fault command" in done.err and len(done.err.strip().splitlines()) == 1
    assert summary(out / "b-broken")["verdict"] == "error"
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "a-ok/report.html" in index and "b-broken" in index
    junit = (out / "junit.xml").read_text(encoding="utf-8")
    assert junit.count("<testsuite ") == 2 and 'name="a-ok"' in junit


@pytest.mark.e2e
def test_ctrl_c_during_the_observation_still_rolls_back(
    tmp_path: Path, own_service: ServiceProcess
) -> None:
    text = scenario(
        "interrupted",
        own_service.url,
        'type = "signal"\n'
        f'params = {{ pid = {own_service.pid}, signal = "SIGSTOP", group = true }}',
        "warmup_s = 1\nsteady_check_s = 1\nobserve_s = 60\ncooldown_s = 1\nwindow_s = 1",
        users=2,
        rate=10,
    )
    run_dir = tmp_path / "run"
    process = start_harness("scenario", str(write(tmp_path / "s.toml", text)), "--out",
                            str(run_dir), env=token_env(own_service.config.data_dir))  # fmt: skip
    wait_until(lambda: bool(events_or_none(run_dir, "fault_injected")), 60.0, "the injection")
    assert process_state(own_service.pid) == "T"  # stopped by the fault
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process)
    assert code == 4, out + err  # an interrupted run never passes: exit 4, incomplete
    assert events(run_dir, "fault_cleared"), "the rollback ran on Ctrl-C"
    assert process_state(own_service.pid) != "T"
    assert summary(run_dir)["status"] == "interrupted"


class _Webhook(QuietHandler):
    """Answers 204 to any GET and keeps what it was sent (path and headers)."""

    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, dict(self.headers)))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """A webhook receiver on loopback: its base URL and the requests it saw."""
    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []
    with serving(type("Webhook", (_Webhook,), {"seen": seen})) as url:
        yield url, seen


@pytest.mark.e2e
def test_run_files_hold_no_secret_and_follow_the_umask(
    tmp_path: Path,
    service: ServiceProcess,
    webhook: tuple[str, list[tuple[str, dict[str, str]]]],
) -> None:
    tokens = token_env(service.config.data_dir)
    admin = tokens["HARNESS_TOKEN_ADMIN"]
    hook_url, seen = webhook
    text = scenario(
        "secrets",
        service.url,
        f'type = "http"\n[fault.params]\nurl = "{hook_url}/hook?token=URL-S3CRET"\n'
        f'method = "GET"\nheaders = {{ Authorization = "Bearer {admin}", '
        f'X-Api-Key = "HEADER-S3CRET" }}\n'
        "expect_status = [204]",
        "warmup_s = 1\nsteady_check_s = 1\nobserve_s = 2\ncooldown_s = 0.5\nwindow_s = 1",
        users=2,
        rate=10,
    )
    run_dir = tmp_path / "run"
    path = write(tmp_path / "s.toml", text)
    # the user's umask, as for any file they write: no wider, and not narrowed to hide secrets
    command = f"umask 027 && exec {sys.executable} -m harness scenario {path} --out {run_dir}"
    done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                          env={**os.environ, **tokens}, timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert events(run_dir, "fault_injected")
    # the webhook itself was sent the real values; only the run's files hold none
    assert any("token=URL-S3CRET" in path and sent.get("X-Api-Key") == "HEADER-S3CRET"
               for path, sent in seen), seen  # fmt: skip
    secrets = ("URL-S3CRET", "HEADER-S3CRET", *tokens.values())
    for file in run_dir.rglob("*"):
        if file.is_file():
            content = file.read_text(encoding="utf-8", errors="replace")
            assert not [s for s in secrets if s in content], file
            if file.parent == run_dir:
                assert file.stat().st_mode & 0o777 == 0o640, file
    assert not [s for s in secrets if s in done.stdout + done.stderr]
    stored = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    headers = stored["config"]["scenario"]["fault"]["params"]["headers"]
    assert headers == {"Authorization": "<redacted>", "X-Api-Key": "<redacted>"}
