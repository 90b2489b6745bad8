"""etcd: the cluster's consensus store (Patroni's DCS), one member on loopback."""

from __future__ import annotations

import socket
from pathlib import Path

from harness.errors import RunFailed
from harness.topology.processes import ManagedProcess, spawn, wait_for

LOOPBACK = "127.0.0.1"


def start_etcd(
    binary: str, directory: Path, port: int, peer_port: int, token: str, env: dict[str, str]
) -> ManagedProcess:
    """Start a one-member etcd (its data kept in `directory/etcd/data` across a cold start)
    and wait until its client port listens; RunFailed with its log if it exits."""
    peer = f"http://{LOOPBACK}:{peer_port}"
    client = f"http://{LOOPBACK}:{port}"
    argv = [binary, "--name", "etcd0", "--data-dir", str(directory / "etcd" / "data"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"etcd0={peer}", "--initial-cluster-state", "new",
            "--initial-cluster-token", token]  # fmt: skip
    etcd = spawn("etcd", argv, directory / "logs" / "etcd.log", env)

    def listening() -> bool:
        if etcd.poll() is not None:
            raise RunFailed(f"etcd exited at start: {etcd.log_tail(2)}")
        with socket.socket() as probe:
            return probe.connect_ex((LOOPBACK, port)) == 0

    wait_for(listening, 30.0, "etcd to listen", interval_s=0.05)
    return etcd
