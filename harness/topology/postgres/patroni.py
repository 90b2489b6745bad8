"""Patroni: one member's configuration file, and a client of its REST API.

Every member registers under the cluster's own etcd namespace; its PostgreSQL listens on a
loopback port of its own, and advertises as its `connect_address` the port of the link proxy
in front of it, so replicas stream WAL from the leader *through* that proxy, where a fault
can lag or cut the replication link. The file is JSON (a subset of YAML), written 0600 to
the member's directory because it holds the passwords.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.topology.postgres.config import PgClusterConfig

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class MemberPorts:
    """One member's loopback ports: PostgreSQL, Patroni's REST API, the link proxy."""

    name: str
    pg_port: int
    rest_port: int
    link_port: int


@dataclass(frozen=True)
class Secrets:
    """Passwords of the cluster's roles (never written to logs or run files)."""

    superuser: str
    replication: str
    app: str


def dcs_settings(config: PgClusterConfig, archive_dir: Path) -> dict[str, Any]:
    """`bootstrap.dcs`: the cluster-wide settings Patroni keeps in etcd."""
    parameters: dict[str, Any] = {
        "wal_level": "replica",
        "hot_standby": "on",
        "max_wal_senders": 10,
        "max_replication_slots": 10,
        "wal_keep_size": "256MB",
        "max_connections": 200,
    }
    if config.archive:
        parameters |= {
            "archive_mode": "on",
            "archive_command": f"test ! -f {archive_dir}/%f && cp %p {archive_dir}/%f",
            "archive_timeout": 10,
        }
    return {
        "ttl": config.ttl_s,
        "loop_wait": config.loop_wait_s,
        "retry_timeout": config.retry_timeout_s,
        "maximum_lag_on_failover": config.maximum_lag_on_failover_bytes,
        "synchronous_mode": config.synchronous,
        "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": parameters},
    }


def member_config(
    config: PgClusterConfig,
    member: MemberPorts,
    *,
    scope: str,
    etcd_port: int,
    member_dir: Path,
    archive_dir: Path,
    secrets: Secrets,
    bootstrap: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One member's Patroni configuration (`bootstrap` replaces the default initdb one)."""
    return {
        "scope": scope,
        "namespace": "/harness/",
        "name": member.name,
        "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
        "restapi": {
            "listen": f"{LOOPBACK}:{member.rest_port}",
            "connect_address": f"{LOOPBACK}:{member.rest_port}",
        },
        "etcd3": {"host": f"{LOOPBACK}:{etcd_port}"},
        "bootstrap": bootstrap
        or {
            "dcs": dcs_settings(config, archive_dir),
            "initdb": ["data-checksums", {"encoding": "UTF8"}, {"locale": "C"}],
        },
        "postgresql": {
            "listen": f"{LOOPBACK}:{member.pg_port}",
            "connect_address": f"{LOOPBACK}:{member.link_port}",
            "data_dir": str(member_dir / "data"),
            "bin_dir": str(config.bin_dir),
            "pgpass": str(member_dir / "pgpass"),
            # A replica is cloned at once: a spread checkpoint made it wait ~90 s here.
            "basebackup": [{"checkpoint": "fast"}],
            "authentication": {
                "superuser": {"username": "postgres", "password": secrets.superuser},
                "replication": {"username": "replicator", "password": secrets.replication},
            },
            # The socket lives in the member's 0700 directory: only its own user reaches it.
            "parameters": {"unix_socket_directories": str(member_dir)},
            "pg_hba": [
                "local all all trust",
                f"host replication replicator {LOOPBACK}/32 scram-sha-256",
                f"host all all {LOOPBACK}/32 scram-sha-256",
            ],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }


def render(data: dict[str, Any]) -> str:
    """The configuration file's text (JSON is YAML, so Patroni reads it as is)."""
    return json.dumps(data, indent=2) + "\n"


class PatroniClient:
    """Client of one member's REST API (loopback, short timeouts)."""

    def __init__(self, port: int, timeout_s: float = 1.0) -> None:
        self.port = port
        self.timeout_s = timeout_s

    def get(self, path: str) -> tuple[int, Any]:
        """(status, JSON body); (0, None) when the member does not answer."""
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=self.timeout_s)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            raw = response.read()
        except OSError:
            return 0, None
        finally:
            conn.close()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, None

    def post(self, path: str, body: Any) -> int:
        """POST a JSON body (e.g. `/restart`); the status, 0 when the member does not answer."""
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=max(self.timeout_s, 30.0))
        try:
            conn.request("POST", path, body=json.dumps(body),
                         headers={"Content-Type": "application/json"})  # fmt: skip
            response = conn.getresponse()
            response.read()
        except OSError:
            return 0
        finally:
            conn.close()
        return response.status

    def role(self) -> str | None:
        """`primary`, `replica`, ... as the member reports itself; None when it is down."""
        status, body = self.get("/patroni")
        if status == 0 or not isinstance(body, dict):
            return None
        return str(body.get("role")) if body.get("state") == "running" else None

    def is_writable_leader(self) -> bool:
        """True when `GET /primary` answers 200 (what HAProxy's check asks)."""
        return self.get("/primary")[0] == 200

    def cluster(self) -> list[dict[str, Any]]:
        """The members as this one sees them (`GET /cluster`), empty when it does not answer."""
        status, body = self.get("/cluster")
        if status != 200 or not isinstance(body, dict):
            return []
        return list(body.get("members", []))
