"""examples/orders end to end: a service written without the harness (stdlib WSGI, its own
SQLite, write-behind), its plain locustfile, SIGKILLed and restarted by the `process` fault,
read back through the `sql` adapter. The harness's lost count must equal the acknowledged
writes the service itself reports missing from its database."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.rundir import iter_jsonl
from harness.testing import wait_until

from .conftest import events, run_harness, summary, write

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "orders"
SERVICE = EXAMPLE / "service.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def orders(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The example service on a free port, its data in the test's directory; whatever
    service the scenario restarted is stopped at the end."""
    port, data = free_port(), tmp_path / "orders"
    first = subprocess.Popen([sys.executable, str(SERVICE), "--port", str(port),
                              "--data-dir", str(data)])  # fmt: skip
    try:
        wait_until(lambda: accepts(port), 15, "the order service")
        yield port, data
    finally:
        first.kill()
        first.wait()
        pid = int((data / "orders.pid").read_text())
        if pid != first.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


@pytest.mark.e2e
def test_the_harness_counts_exactly_the_writes_the_service_lost(
    tmp_path: Path, orders: tuple[int, Path]
) -> None:
    port, data = orders
    text = (EXAMPLE / "orders-kill.toml").read_text()
    restart = f"{sys.executable} {SERVICE} --daemon --port {port} --data-dir {data}"
    text = text.replace("python3 examples/orders/service.py --daemon", restart)
    text = text.replace("/tmp/harness-orders", str(data)).replace("8077", str(port))
    text = text.replace('success_rate = "99%"', 'success_rate = "90%"')  # a busy shared machine
    text = text.replace(
        'locustfile = "locustfile.py"', f'locustfile = "{EXAMPLE / "locustfile.py"}"'
    )
    run_dir = tmp_path / "run"
    done = run_harness("scenario", str(write(tmp_path / "orders-kill.toml", text)),
                       "--out", str(run_dir))  # fmt: skip
    assert done.code == 0, done.out + done.err
    truth = json.loads(subprocess.run(
        [sys.executable, str(SERVICE), "--report-lost", "--data-dir", str(data)],
        capture_output=True, text=True, check=True).stdout)  # fmt: skip
    recorded = {entry["key"] for entry in iter_jsonl(run_dir / "ledger.jsonl")}
    # acknowledged to a client that saw the answer: a write killed mid-answer is in the
    # service's log but never reached a user, so it is not an acknowledged write
    really_lost = set(truth["lost"]) & recorded
    recovery = summary(run_dir)["recovery"]
    assert recovery["lost_writes"] == len(really_lost) >= 1, (truth, recovery)
    assert set(recovery["lost_keys"]) == really_lost
    assert recovery["unknown_writes"] == 0 and recovery["rpo_s"] is not None
    assert len(set(truth["lost"]) - recorded) <= 4  # at most one answer in flight per user
    readback = events(run_dir, "readback")[0]
    assert readback["adapter"] == "sql" and readback["missing"] == len(really_lost)
    assert recovery["rto_s"] is not None
