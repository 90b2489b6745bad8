"""A real high-availability PostgreSQL cluster on loopback: one etcd, Patroni-managed
PostgreSQL 15 members (a leader and streaming replicas, data checksums on), a link proxy in
front of each member that carries its replication stream, and HAProxy sending clients to
whichever member Patroni says is the leader.

    with PgCluster(PgClusterConfig(data_dir)) as cluster:
        ... clients use cluster.dsn ...
        cluster.lose_member(cluster.leader())      # Patroni promotes a replica
        cluster.wait_leader(timeout_s=60)

Every process carries the caller's `HARNESS_DEPLOYMENT_ID` marker, so `harness down` finds
them (postmasters and backends included) even after the harness itself crashed.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, RunFailed
from harness.topology.postgres.config import PgClusterConfig
from harness.topology.postgres.etcd import start_etcd
from harness.topology.postgres.haproxy import start_haproxy
from harness.topology.postgres.host import RunAs, cluster_directory, find_binaries
from harness.topology.postgres.member import Member
from harness.topology.postgres.patroni import (
    LOOPBACK,
    MemberPorts,
    Secrets,
    member_config,
    render,
)
from harness.topology.postgres.sql import connect, create_application_role, writable_port
from harness.topology.processes import MARKER_ENV, ManagedProcess, wait_for
from harness.topology.region import pick_fixed_port

EventSink = Callable[..., None]


def port_free(port: int) -> bool:
    """True when nothing listens on loopback `port`."""
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


class PgCluster:
    """Starts, watches, breaks on purpose, and stops the PostgreSQL cluster."""

    def __init__(
        self,
        config: PgClusterConfig,
        *,
        env: dict[str, str] | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        self.config = config
        self.binaries = find_binaries(config.bin_dir)  # ConfigError before anything starts
        if config.haproxy_port and not port_free(config.haproxy_port):
            raise ConfigError(f"port {config.haproxy_port} is in use", "postgresql.haproxy_port")
        self.run_as = RunAs.current()
        self.env = dict(env or {MARKER_ENV: uuid.uuid4().hex[:16]})
        self.on_event = on_event
        self.directory = cluster_directory(config.data_dir, self.run_as)
        self.scope = f"harness-{uuid.uuid4().hex[:8]}"
        self.secrets = Secrets(*(secrets.token_urlsafe(18) for _ in range(3)))
        self.etcd_port, self.etcd_peer_port = pick_fixed_port(), pick_fixed_port()
        self.haproxy_port = config.haproxy_port or pick_fixed_port()
        self.members = {
            name: Member(
                MemberPorts(name, pick_fixed_port(), pick_fixed_port(), pick_fixed_port()),
                self.directory / name,
                self.binaries.patroni,
                self.run_as,
                self.env,
            )
            for name in config.node_names
        }
        self.archive_dir = self.directory / "archive"
        self.etcd: ManagedProcess | None = None
        self.haproxy: ManagedProcess | None = None
        self.started = False
        self.lost: set[str] = set()
        self.damaged_t: float | None = None  # when a fault corrupted data (PITR's target)

    # -- what callers read ------------------------------------------------------------------

    @property
    def passfile(self) -> Path:
        """The clients' libpq password file (0600, owned by the caller)."""
        return self.directory / "client.pgpass"

    @property
    def dsn(self) -> str:
        """The application's DSN: through HAProxy to the leader, password in `passfile`."""
        return (
            f"postgresql://{self.config.user}@{LOOPBACK}:{self.haproxy_port}/"
            f"{self.config.database}?passfile={self.passfile}&connect_timeout=3"
        )

    def member_dsn(self, name: str, database: str = "postgres") -> str:
        """A superuser DSN straight to one member (faults and read-back only)."""
        port = self.members[name].ports.pg_port
        return (
            f"postgresql://postgres@{LOOPBACK}:{port}/{database}"
            f"?passfile={self.passfile}&connect_timeout=3"
        )

    def leader(self) -> str | None:
        """The member that answers `/primary` (the writable leader), None during a failover."""
        for name, member in self.members.items():
            if member.rest.is_writable_leader():
                return name
        return None

    def replicas(self) -> list[str]:
        """Members running as replicas."""
        return [n for n, m in self.members.items() if m.rest.role() == "replica"]

    def processes(self) -> list[ManagedProcess]:
        """Every process started and still running (for deployment.json)."""
        found = [self.etcd, self.haproxy]
        for member in self.members.values():
            found += [member.process, member.link.process]
        return [p for p in found if p is not None and p.poll() is None]

    def describe(self) -> dict[str, Any]:
        """The layout as JSON (run.json's topology): ports, directory, Patroni timing."""
        config = self.config
        return {
            "kind": "postgresql",
            "directory": str(self.directory),
            "haproxy": f"{LOOPBACK}:{self.haproxy_port}",
            "etcd": f"{LOOPBACK}:{self.etcd_port}",
            "members": {
                n: {"pg": m.ports.pg_port, "rest": m.ports.rest_port, "link": m.ports.link_port}
                for n, m in self.members.items()
            },
            "synchronous_mode": config.synchronous,
            "ttl_s": config.ttl_s,
            "loop_wait_s": config.loop_wait_s,
            "retry_timeout_s": config.retry_timeout_s,
            "maximum_lag_on_failover_bytes": config.maximum_lag_on_failover_bytes,
        }

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> PgCluster:
        """Start etcd, the members one after the other, HAProxy; wait until the leader takes
        writes through HAProxy and every replica streams. Stops everything on failure."""
        started = time.monotonic()
        self.started = True
        try:
            self._prepare()
            self.start_etcd_process()
            first, *others = self.members.values()
            self._start_member(first)
            self.wait_leader(self.config.ready_timeout_s)
            create_application_role(self.member_dsn(first.name), self.config.user,
                                    self.config.database, self.secrets.app)  # fmt: skip
            for member in others:
                self._start_member(member)
            self.wait_streaming(self.config.ready_timeout_s)
            self.start_haproxy()
        except BaseException:
            self.stop()
            raise
        self.emit("postgres_started", leader=self.leader(), dsn_port=self.haproxy_port,
                   duration_s=round(time.monotonic() - started, 3))  # fmt: skip
        return self

    def stop(self) -> None:
        """Stop every process of the cluster (HAProxy, members, links, etcd); idempotent."""
        if not self.started:
            return
        if self.haproxy is not None:
            self.haproxy.stop(5.0)
        for member in self.members.values():
            member.stop()
        for member in self.members.values():
            member.link.stop()
        if self.etcd is not None:
            self.etcd.stop(5.0)
        self.started = False
        self._keep_logs_and_remove_temporary_directory()
        self.emit("postgres_stopped")

    def _keep_logs_and_remove_temporary_directory(self) -> None:
        """A directory of our own under /tmp (the data dir was out of the postgres user's
        reach) would outlive the run: its logs are copied into `<data_dir>/postgres/logs`
        and it is removed; a cluster kept under the data dir stays as it is."""
        kept = self.config.data_dir.resolve() / "postgres"
        if self.directory == kept or not self.directory.name.startswith("harness-postgres-"):
            return
        shutil.copytree(self.directory / "logs", kept / "logs", dirs_exist_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- waiting --------------------------------------------------------------------------------

    def wait_leader(self, timeout_s: float, exclude: str | None = None) -> tuple[str, float]:
        """Wait until a member (not `exclude`) is the writable leader, reached through HAProxy
        once that runs; (name, seconds)."""
        started = time.monotonic()
        found: list[str] = []

        def elected() -> bool:
            for name, member in self.members.items():
                process = member.process
                if name not in self.lost and process is not None and process.poll() is not None:
                    raise RunFailed(f"Patroni {name} exited: {process.log_tail(3)}")
            leader = self.leader()
            if leader is None or leader == exclude:
                return False
            # Clients reach it only once HAProxy marks it up.
            leader_port = self.members[leader].ports.pg_port
            if self.haproxy is not None and writable_port(self.dsn) != leader_port:
                return False
            found.append(leader)
            return True

        try:
            wait_for(elected, timeout_s, "a PostgreSQL leader to be elected", interval_s=0.1)
        except RunFailed as exc:
            if "timed out" not in str(exc):
                raise
            logs = "; ".join(f"{n}: {m.process.log_tail(1)}" for n, m in self.members.items()
                             if m.process is not None)  # fmt: skip
            raise RunFailed(
                f"no PostgreSQL leader elected within {timeout_s:g}s ({logs})"
            ) from None
        return found[0], time.monotonic() - started

    def wait_streaming(self, timeout_s: float) -> None:
        """Wait until every replica streams from the leader (pg_stat_replication) and Patroni
        reports it running as a replica: a member streams a moment before its REST state
        leaves `starting`, and Patroni switches or fails over only to a running one."""
        wanted = len(self.members) - 1

        def streaming() -> bool:
            leader = self.leader()
            if leader is None or len(self.replicas()) < wanted:
                return False
            with connect(self.member_dsn(leader)) as conn:
                row = conn.execute(
                    "select count(*) from pg_stat_replication"
                    " where state = 'streaming' and application_name = any(%s)",
                    (list(self.members),),
                ).fetchone()
            return row is not None and int(row[0]) >= wanted

        wait_for(streaming, timeout_s, "every replica to stream from the leader", interval_s=0.2)

    def wait_replicated(self, timeout_s: float) -> None:
        """Wait until every streaming replica has replayed the leader's WAL as of now."""
        leader = self.leader()
        if leader is None:
            raise RunFailed("no leader to wait on")
        dsn = self.member_dsn(leader)
        with connect(dsn) as conn:
            row = conn.execute("select pg_current_wal_lsn()").fetchone()
        assert row is not None
        target = row[0]

        def caught_up() -> bool:
            with connect(dsn) as conn:
                row = conn.execute(
                    "select count(*) filter (where replay_lsn >= %s::pg_lsn), count(*)"
                    " from pg_stat_replication where application_name = any(%s)",
                    (target, list(self.members)),
                ).fetchone()
            return row is not None and row[0] == row[1] == len(self.members) - 1

        wait_for(caught_up, timeout_s, "the replicas to replay the leader's WAL", interval_s=0.05)

    def replication_lag_bytes(self) -> dict[str, int]:
        """Bytes of WAL each replica has not replayed yet, as the leader sees it now."""
        leader = self.leader()
        if leader is None:
            return {}
        with connect(self.member_dsn(leader)) as conn:
            rows = conn.execute(
                "select application_name,"
                " coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), -1)::bigint"
                " from pg_stat_replication where application_name = any(%s)",
                (list(self.members),),
            ).fetchall()
        return {str(name): int(lag) for name, lag in rows}

    # -- faults and recovery ------------------------------------------------------------------

    def lose_member(self, name: str, *, cut_link: bool = True) -> list[int]:
        """The member is lost as a machine would be: its link cut (replication bytes still in
        flight are dropped), then SIGKILL to its Patroni and every PostgreSQL process."""
        member = self.members[name]
        if cut_link:
            member.link.add_toxic("down", name="member-lost")
        self.lost.add(name)
        pids = member.kill(signal.SIGKILL)
        wait_for(lambda: member.postmaster_pid() is None, 10.0, f"{name}'s postmaster to die")
        self.emit("postgres_member_lost", member=name, pids=pids)
        return pids

    def restart_member(self, name: str, timeout_s: float = 60.0) -> float:
        """Start a lost member again (it rejoins as a replica, rewound if it must be); every
        link's toxics are cleared first."""
        started = time.monotonic()
        member = self.members[name]
        if member.process is not None:
            member.process.stop(5.0)
        # The member rejoins over a healed network: a lagged link would time out Patroni's
        # pg_rewind check against the new leader and leave the member on the old timeline.
        for link in (m.link for m in self.members.values()):
            link.clear_toxics()
        member.start()
        self.lost.discard(name)
        wait_for(lambda: member.rest.role() is not None, timeout_s, f"{name} to run again",
                 interval_s=0.2)  # fmt: skip
        duration_s = time.monotonic() - started
        self.emit("postgres_member_restarted", member=name, duration_s=round(duration_s, 3))
        return duration_s

    # -- parts (also used by pitr and outage) ------------------------------------------

    def _prepare(self) -> None:
        run_as = self.run_as
        run_as.own(self.archive_dir)
        (self.directory / "logs").mkdir(exist_ok=True)
        (self.directory / "etcd").mkdir(mode=0o700, exist_ok=True)
        lines = [f"{LOOPBACK}:*:*:postgres:{self.secrets.superuser}",
                 f"{LOOPBACK}:*:*:{self.config.user}:{self.secrets.app}"]  # fmt: skip
        self.passfile.touch(mode=0o600)
        self.passfile.write_text("\n".join(lines) + "\n")
        for member in self.members.values():
            run_as.own(member.directory)
            config = member_config(
                self.config, member.ports, scope=self.scope, etcd_port=self.etcd_port,
                member_dir=member.directory, archive_dir=self.archive_dir, secrets=self.secrets,
            )  # fmt: skip
            run_as.write(member.config_path, render(config))

    def start_etcd_process(self) -> None:
        """Start etcd on the cluster's ports (its data kept across a cold start)."""
        self.etcd = start_etcd(self.binaries.etcd, self.directory, self.etcd_port,
                               self.etcd_peer_port, self.scope, self.env)  # fmt: skip

    def _start_member(self, member: Member) -> None:
        member.link.start(env=self.env)
        member.start()

    def start_haproxy(self, timeout_s: float = 30.0) -> None:
        """Start HAProxy and wait until successive connections all reach the leader."""
        members = [m.ports for m in self.members.values()]
        self.haproxy = start_haproxy(self.binaries.haproxy, members, self.haproxy_port,
                                     self.directory, self.env, self.dsn, timeout_s)  # fmt: skip

    def emit(self, kind: str, **fields: Any) -> None:
        """Send an event to the caller's sink (stamped with `t`)."""
        if self.on_event is not None:
            self.on_event(kind, t=time.time(), **fields)
