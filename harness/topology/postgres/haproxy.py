"""HAProxy in front of the cluster: the services' one leader-aware address.

Every member is a server of one TCP backend; HAProxy asks each member's Patroni
`GET /primary` (200 only on the leader that holds the leader key) every `interval_ms`, so
exactly one server is up. `on-marked-down shutdown-sessions` closes the connections to a
member that stops being the leader, so pooled clients reconnect to the new one instead of
writing into a demoted node. Chosen over libpq's multi-host `target_session_attrs=read-write`
because a client then needs no list of nodes (the DSN stays one host:port whatever the
topology), and a failover is detected by Patroni's own view, not by every client's connect
attempt; docs/postgresql.md gives the measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.topology.postgres.patroni import LOOPBACK, MemberPorts


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
