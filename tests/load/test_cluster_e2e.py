"""A rogue peer on a real master's port, on loopback: it gets no answer and changes no figure.

The master and its local worker share a secret from a file; the rogue (tests/load/rogue_peer.py)
has another. One short run, as a subprocess (Locust's patching stays out of this process).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.rundir import iter_jsonl

RUN_TIMEOUT_S = 120.0
ROGUE = Path(__file__).with_name("rogue_peer.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.e2e
def test_a_rogue_peer_learns_nothing_and_changes_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "cluster.secret"
    secret.write_text("a-cluster-secret-for-this-test-only\n")
    port, run_dir, heard = _free_port(), tmp_path / "run", tmp_path / "rogue.jsonl"
    master = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--profile", "light", "--duration", "6s",
         "--workers", "1", "--master-bind", f"127.0.0.1:{port}",
         "--cluster-secret-file", str(secret), "--out", str(run_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    rogue = subprocess.Popen(
        [sys.executable, str(ROGUE), "127.0.0.1", str(port), str(heard), "14"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _out, err = master.communicate(timeout=RUN_TIMEOUT_S)
        rogue.terminate()  # it probed the whole run; nothing is left to hear
        _rout, rogue_err = rogue.communicate(timeout=30)
    finally:
        for process in (master, rogue):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert master.returncode == 0, err
    assert rogue.returncode == 0, rogue_err
    assert heard.read_text() == ""  # not one message back: no ack, no spawn, no config
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "GET /rogue" not in json.dumps(summary)
    assert 0 < summary["totals"]["requests"] < 10_000
    rejected = [e for e in iter_jsonl(run_dir / "events.jsonl") if e["kind"] == "message_rejected"]
    typed = [e for e in rejected if "type" in e]  # after 100, one event counts the rest
    assert {e["type"] for e in typed} == {"harness_hello", "harness_intervals", "undecodable"}
    ours = [e for e in typed if e["type"] != "undecodable"]
    assert all("secret" in e["reason"] or "envelope" in e["reason"] for e in ours)
    joined = [e for e in iter_jsonl(run_dir / "events.jsonl") if e["kind"] == "worker_joined"]
    assert len(joined) == 1 and not joined[0]["worker"].startswith("rogue_")
    assert "a-cluster-secret-for-this-test-only" not in "".join(
        path.read_text(errors="replace") for path in run_dir.glob("*.json*")
    )
