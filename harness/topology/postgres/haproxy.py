"""HAProxy in front of the cluster: the services' one leader-aware address.

Every member is a server of one TCP backend; HAProxy asks each member's Patroni
`GET /primary` (200 only on the leader that holds the leader key) every `interval_ms`, so
exactly one server is up. `on-marked-down shutdown-sessions` closes the connections to a
member that stops being the leader, so pooled clients reconnect to the new one instead of
writing into a demoted node. Chosen over libpq's multi-host `target_session_attrs=read-write`
because a client then needs no list of nodes (the DSN stays one host:port whatever the
topology), and a failover is detected by Patroni's own view, not by every client's connect
attempt; docs/postgresql.md gives the measurement.

`start_haproxy` writes that configuration, starts HAProxy and waits until it sends every
connection to the leader.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.errors import RunFailed
from harness.topology.postgres.patroni import LOOPBACK, MemberPorts
from harness.topology.postgres.sql import writable_port
from harness.topology.processes import ManagedProcess, spawn, wait_for


def haproxy_config(
    members: Sequence[MemberPorts], port: int, pid_file: Path, interval_ms: int = 500
) -> str:
    """The configuration text (no stats page, no admin socket: nothing to leak)."""
    servers = "\n".join(
        f"    server {m.name} {LOOPBACK}:{m.pg_port} maxconn 500 check port {m.rest_port}"
        for m in members
    )
    return f"""global
    maxconn 2000
    pidfile {pid_file}

defaults
    mode tcp
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 1s

listen primary
    bind {LOOPBACK}:{port}
    option httpchk
    http-check send meth GET uri /primary
    http-check expect status 200
    default-server inter {interval_ms}ms fastinter {interval_ms}ms downinter {interval_ms}ms \
rise 1 fall 2 on-marked-down shutdown-sessions
{servers}
"""


def start_haproxy(
    binary: str,
    members: Sequence[MemberPorts],
    port: int,
    directory: Path,
    env: dict[str, str],
    dsn: str,
    timeout_s: float = 30.0,
) -> ManagedProcess:
    """Start HAProxy on `port` (configuration, pid file and log under `directory`) and wait
    until successive connections on `dsn` all reach the leader; RunFailed (HAProxy stopped)
    if it exits or never gets there."""
    path = directory / "haproxy.cfg"
    path.write_text(haproxy_config(members, port, directory / "haproxy.pid"))
    haproxy = spawn("haproxy", [binary, "-db", "-f", str(path)],
                    directory / "logs" / "haproxy.log", env)  # fmt: skip
    member_ports = {m.pg_port for m in members}
    in_a_row: list[int] = []

    def only_the_leader() -> bool:
        # HAProxy counts a server up until `fall` checks failed: wait until successive
        # connections all reach the one writable leader.
        if haproxy.poll() is not None:
            raise RunFailed(f"haproxy exited at start: {haproxy.log_tail(2)}")
        reached = writable_port(dsn)
        if reached is None or reached not in member_ports:
            in_a_row.clear()
            return False
        in_a_row.append(reached)
        return len(in_a_row) >= 6 and len(set(in_a_row[-6:])) == 1

    try:
        wait_for(only_the_leader, timeout_s, "HAProxy to reach the leader", interval_s=0.1)
    except BaseException:  # the caller never holds it, so it would outlive the cluster
        haproxy.stop(5.0)
        raise
    return haproxy
