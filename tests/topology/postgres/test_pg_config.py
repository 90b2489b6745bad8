"""The cluster's configuration, generated and validated without starting anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.topology.postgres.config import PgClusterConfig
from harness.topology.postgres.haproxy import haproxy_config
from harness.topology.postgres.host import find_binaries
from harness.topology.postgres.patroni import MemberPorts, Secrets, member_config, render


def test_patroni_timing_rule_is_enforced(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loop_wait \\+ 2 \\* retry_timeout <= ttl"):
        PgClusterConfig(tmp_path, ttl_s=5, loop_wait_s=1, retry_timeout_s=4)
    with pytest.raises(ConfigError, match=r"2\.\.5 nodes"):
        PgClusterConfig(tmp_path, nodes=1)


def test_member_config_streams_through_its_link_and_checksums_data(tmp_path: Path) -> None:
    config = PgClusterConfig(tmp_path, synchronous=True, ttl_s=20)
    member = MemberPorts("pg1", pg_port=5001, rest_port=5002, link_port=5003)
    data = json.loads(
        render(
            member_config(config, member, scope="s", etcd_port=5004, member_dir=tmp_path / "pg1",
                          archive_dir=tmp_path / "archive", secrets=Secrets("a", "b", "c"))
        )
    )  # fmt: skip
    postgresql = data["postgresql"]
    assert postgresql["listen"] == "127.0.0.1:5001"
    assert postgresql["connect_address"] == "127.0.0.1:5003"  # replicas stream via the link
    assert "data-checksums" in data["bootstrap"]["initdb"]
    dcs = data["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["synchronous_mode"]) == (20, True)
    assert "archive" in dcs["postgresql"]["parameters"]["archive_command"]
    hosts = [line for line in postgresql["pg_hba"] if line.startswith("host")]
    assert hosts and all("127.0.0.1/32 scram-sha-256" in line for line in hosts)


def test_haproxy_sends_clients_to_patronis_primary_only() -> None:
    members = [MemberPorts("pg0", 1, 2, 3), MemberPorts("pg1", 4, 5, 6)]
    text = haproxy_config(members, 7000, Path("/tmp/h.pid"))
    assert "bind 127.0.0.1:7000" in text
    assert "uri /primary" in text and "on-marked-down shutdown-sessions" in text
    assert "server pg0 127.0.0.1:1 maxconn 500 check port 2" in text
    assert "server pg1 127.0.0.1:4 maxconn 500 check port 5" in text


def test_missing_binaries_are_named_with_their_package(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"postgres.*postgresql-15"):
        find_binaries(tmp_path)  # no PostgreSQL programs in an empty directory
