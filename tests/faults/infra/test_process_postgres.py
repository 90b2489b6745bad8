"""The `process` and `postgres` faults against real processes and a real PostgreSQL 15:
SIGSTOP and SIGCONT by pid file, SIGKILL by pattern with a restart command, the harness
sparing itself, and client backends terminated or cancelled through a DSN."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.faults import FaultError, RecordingSink, build_fault, clear_fault, inject_fault
from harness.faults.base import FaultContext
from harness.faults.infra.process import systemd_running
from harness.scenarios.model import FaultSpec, freeze
from harness.testing import wait_until


def fault(kind: str, **params: object):  # type: ignore[no-untyped-def]
    return build_fault(FaultSpec(type=kind, params=freeze(params)), "s.toml")


def state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat[stat.rindex(")") + 2 :].split()[0]


@pytest.fixture
def sleepers() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    marker = f"{3000 + uuid.uuid4().int % 1000}.{os.getpid()}"
    procs = [subprocess.Popen(["sleep", marker]) for _ in range(2)]
    yield marker, procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_sigstop_by_pid_file_then_sigcont(
    tmp_path: Path, sleepers: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    _, procs = sleepers
    pid_file = tmp_path / "svc.pid"
    pid_file.write_text(f"{procs[0].pid}\n")
    stop = fault("process", pid_file=str(pid_file), signal="SIGSTOP")
    ctx = FaultContext(sink=RecordingSink())
    inject_fault(stop, ctx)
    wait_until(lambda: state(procs[0].pid) == "T", what="the process to stop")
    assert state(procs[1].pid) != "T"
    clear_fault(stop, ctx)
    wait_until(lambda: state(procs[0].pid) in ("S", "R"), what="the process to resume")
    assert f"(pids {procs[0].pid})" in ctx.sink.events[0]["detail"]  # type: ignore[attr-defined]


def test_sigkill_by_pattern_then_the_restart_command(
    tmp_path: Path, sleepers: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    marker, procs = sleepers
    restarted = tmp_path / "restarted"
    kill = fault("process", pattern=f"^sleep {marker}$", restart=f"touch {restarted}")
    ctx = FaultContext(sink=RecordingSink())
    inject_fault(kill, ctx)
    for proc in procs:
        proc.wait(timeout=10)
        assert proc.returncode == -9
    assert not restarted.exists()
    clear_fault(kill, ctx)
    assert restarted.exists()
    with pytest.raises(FaultError, match="no process matches"):
        inject_fault(kill, FaultContext(sink=RecordingSink()))


_SPARES_ITSELF = """
import re, sys
from harness.faults import FaultError, RecordingSink, build_fault
from harness.faults.base import FaultContext
from harness.scenarios.model import FaultSpec, freeze
me = " ".join(open("/proc/self/cmdline", "rb").read().decode().split("\\0")).strip()
params = freeze({"pattern": "^" + re.escape(me) + "$", "signal": "SIGKILL"})
fault = build_fault(FaultSpec(type="process", params=params), "s.toml")
try:
    fault.inject(FaultContext(sink=RecordingSink()))
except FaultError as exc:
    print(exc)
"""


def test_the_harness_never_matches_itself() -> None:
    # A child whose command line holds a unique marker names itself: no other process on the
    # machine can match (the test's own command line could be shared by another run).
    marker = f"spare-me-{uuid.uuid4().hex}"
    done = subprocess.run([sys.executable, "-c", _SPARES_ITSELF, marker],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no process matches" in done.stdout, done.stdout + done.stderr


def test_bad_params_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"fault\.params: expected exactly one of"):
        fault("process", pid_file="/x", pattern="y")
    with pytest.raises(ConfigError, match=r"fault\.params\.pattern: not a valid regular"):
        fault("process", pattern="(")
    with pytest.raises(ConfigError, match=r"fault\.params\.signal"):
        fault("process", pattern="x", signal="SIGNOPE")
    if not systemd_running():
        with pytest.raises(ConfigError, match=r"fault\.params\.unit: systemd is not running"):
            fault("process", unit="orders.service")
    with pytest.raises(ConfigError, match=r"fault\.params\.dsn: expected a postgresql"):
        fault("postgres", dsn="mysql://x")
    with pytest.raises(ConfigError, match=r"fault\.params\.action"):
        fault("postgres", dsn="postgresql://x/y", action="drop")


def test_postgres_terminates_every_client_backend(postgres_dsn: str) -> None:
    import psycopg

    clients = [psycopg.connect(postgres_dsn, autocommit=True) for _ in range(3)]
    bystander = psycopg.connect(postgres_dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    try:
        database = postgres_dsn.rsplit("/", 1)[1]
        terminate = fault("postgres", dsn=postgres_dsn, database=database)
        ctx = FaultContext(sink=RecordingSink())
        inject_fault(terminate, ctx)
        assert "(3 signalled)" in ctx.sink.events[0]["detail"]  # type: ignore[attr-defined]
        for client in clients:
            with pytest.raises(psycopg.OperationalError):
                client.execute("SELECT 1")
        assert bystander.execute("SELECT 1").fetchone() == (1,)  # another database: spared
    finally:
        for conn in [*clients, bystander]:
            conn.close()


def test_postgres_cancel_fails_the_running_query_and_keeps_the_connection(
    postgres_dsn: str,
) -> None:
    import psycopg

    client = psycopg.connect(postgres_dsn, autocommit=True)
    outcome: list[BaseException] = []

    def long_query() -> None:
        try:
            client.execute("SELECT pg_sleep(30)")
        except psycopg.Error as exc:
            outcome.append(exc)

    worker = threading.Thread(target=long_query)
    worker.start()
    with psycopg.connect(postgres_dsn, autocommit=True) as probe:
        wait_until(lambda: probe.execute("SELECT count(*) FROM pg_stat_activity WHERE query "
                                         "LIKE 'SELECT pg_sleep%%' AND state = 'active'"
                                         ).fetchone() == (1,), what="the query to run")  # fmt: skip
    fault("postgres", dsn=postgres_dsn, action="cancel").inject(FaultContext(sink=RecordingSink()))
    worker.join(timeout=10)
    assert outcome and isinstance(outcome[0], psycopg.errors.QueryCanceled)
    assert client.execute("SELECT 2").fetchone() == (2,)
    client.close()
    broken = fault("postgres", dsn="postgresql://nobody:pw@127.0.0.1:9/x")
    with pytest.raises(FaultError) as info:
        broken.inject(FaultContext(sink=RecordingSink()))
    assert "<redacted>" in str(info.value) and ":pw@" not in str(info.value)
