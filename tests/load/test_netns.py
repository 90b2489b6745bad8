"""A distributed run across hosts: master, two workers and the service in separate network
namespaces joined by a bridge, as on four machines; master and workers share a cluster
secret, and a fifth namespace runs a rogue peer (tests/load/rogue_peer.py) on the master's
port without it: it must get nothing back and its fake seconds must not reach the summary.

Needs root and `ip netns`; skipped otherwise. Every address (10.213.N.0/24) exists only
inside namespaces this test creates, and everything is torn down in `finally`.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.rundir import iter_jsonl

pytestmark = [pytest.mark.netns, pytest.mark.e2e]

NODES = ("master", "w1", "w2", "svc", "rogue")
ROGUE = Path(__file__).with_name("rogue_peer.py")
RUN_TIMEOUT_S = 150.0
DRAINS: list[threading.Thread] = []


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def _netns_available() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"hlprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError):
        return False
    subprocess.run(["ip", "netns", "del", probe], check=False, capture_output=True)
    return True


class Network:
    """Namespaces `<prefix>-<node>` on one bridge (in a namespace of its own)."""

    def __init__(self) -> None:
        self.prefix = f"hl{os.getpid() % 100_000}"
        self.subnet = f"10.213.{os.getpid() % 200 + 20}"
        self.created: list[str] = []

    def ns(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    def address(self, node: str) -> str:
        return f"{self.subnet}.{NODES.index(node) + 1}"

    def build(self) -> None:
        bridge_ns = self.ns("br")
        _ip("netns", "add", bridge_ns)
        self.created.append(bridge_ns)
        _ip("-n", bridge_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", bridge_ns, "link", "set", "br0", "up")
        for index, node in enumerate(NODES):
            name = self.ns(node)
            _ip("netns", "add", name)
            self.created.append(name)
            _ip("-n", name, "link", "set", "lo", "up")
            # both ends are created inside the node's namespace, then one moves to the bridge's
            _ip("-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{index}")
            _ip("-n", name, "link", "set", f"p{index}", "netns", bridge_ns)
            _ip("-n", bridge_ns, "link", "set", f"p{index}", "master", "br0", "up")
            _ip("-n", name, "addr", "add", f"{self.address(node)}/24", "dev", "eth0")
            _ip("-n", name, "link", "set", "eth0", "up")

    def command(self, node: str, *args: str) -> list[str]:
        if node == "rogue":
            return ["ip", "netns", "exec", self.ns(node), sys.executable, str(ROGUE), *args]
        return ["ip", "netns", "exec", self.ns(node), sys.executable, "-m", "harness", *args]

    def teardown(self) -> None:
        for name in reversed(self.created):
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


@pytest.fixture
def network() -> Iterator[Network]:
    if not _netns_available():
        pytest.skip("needs root and ip netns")
    net = Network()
    try:
        net.build()
        yield net
    finally:
        net.teardown()


def _wait_for_line(process: subprocess.Popen[str], prefix: str, timeout_s: float) -> str:
    """The rest of the first stdout line starting with `prefix`; stdout is drained after."""
    stdout = process.stdout
    assert stdout is not None
    found: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        with stdout:  # read to the end, so the server never blocks on a full pipe
            for line in stdout:
                if line.startswith(prefix):
                    found.put(line[len(prefix) :].strip())

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    DRAINS.append(reader)
    try:
        return found.get(timeout=timeout_s)
    except queue.Empty:
        pytest.fail(f"no {prefix!r} line within {timeout_s}s")


def test_master_and_two_workers_on_separate_hosts(network: Network, tmp_path: Path) -> None:
    from harness.service.server import READY_LINE_PREFIX
    from harness.service.tokens import Keyring

    data_dir = tmp_path / "data"
    processes: list[subprocess.Popen[str]] = []

    def start(node: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            network.command(node, *args),
            stdout=subprocess.PIPE if node in ("svc", "master") else subprocess.DEVNULL,
            stderr=subprocess.PIPE if node == "master" else subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
        )
        processes.append(process)
        return process

    try:
        service = start(
            "svc",
            "serve",
            "--host",
            network.address("svc"),
            "--port",
            "8000",
            "--data-dir",
            str(data_dir),
            "--seed-items",
            "200",
        )
        url = _wait_for_line(service, READY_LINE_PREFIX, 60)
        keyring = Keyring(data_dir)
        tokens = {
            f"HARNESS_TOKEN_{role.upper()}": keyring.issue(role, f"netns-{role}", 3600)
            for role in ("admin", "user", "viewer", "service")
        }
        run_dir = tmp_path / "run"
        secret = tmp_path / "cluster.secret"
        secret.write_text("netns-cluster-secret-0123456789\n")
        master = start(
            "master",
            "run",
            "--host",
            url,
            "--profile",
            "light",
            "--duration",
            "6s",
            "--workers",
            "0",
            "--expect-workers",
            "2",
            "--expect-workers-timeout",
            "60s",
            "--master-bind",
            f"{network.address('master')}:5557",
            "--out",
            str(run_dir),
            "--cluster-secret-file",
            str(secret),
            env=tokens,
        )
        heard = tmp_path / "rogue-heard.jsonl"
        rogue = start("rogue", network.address("master"), "5557", str(heard), "30")
        for node in ("w1", "w2"):
            master_at = f"{network.address('master')}:5557"
            start(node, "worker", "--master", master_at, "--cluster-secret-file", str(secret))
        _out, err = master.communicate(timeout=RUN_TIMEOUT_S)
        assert master.returncode == 0, err
        rogue.terminate()  # it probed the whole run; nothing is left to hear
        rogue.wait(timeout=60)
        assert rogue.returncode == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for reader in DRAINS:
            reader.join(timeout=10)
        for process in processes:
            for stream in (process.stdout, process.stderr):
                if stream is not None and not stream.closed:
                    stream.close()
    joined = [e for e in iter_jsonl(run_dir / "events.jsonl") if e["kind"] == "worker_joined"]
    assert len(joined) == 2 and not any(e["worker"].startswith("rogue_") for e in joined)
    assert heard.read_text() == ""  # the rogue got nothing: no ack, no users, no tokens
    rejected = [e for e in iter_jsonl(run_dir / "events.jsonl") if e["kind"] == "message_rejected"]
    assert {e["type"] for e in rejected if "type" in e} >= {"harness_hello", "harness_intervals"}
    ours = [e for e in rejected if e.get("type", "undecodable") != "undecodable"]
    assert ours and all(e["worker"].startswith("rogue_") for e in ours)
    lines = list(iter_jsonl(run_dir / "intervals.jsonl"))
    assert any(line["workers"] == 2 for line in lines)
    summary = json.loads((run_dir / "summary.json").read_text())
    totals = summary["totals"]
    assert totals["requests"] > 50 and totals["failures"] == 0, totals["errors"]
    assert "GET /rogue" not in summary["endpoints"] and summary["totals"]["requests"] < 100_000
    assert json.loads((run_dir / "run.json").read_text())["target"] == url
