"""Backups, corruption and point-in-time recovery of the cluster, done the way an operator
does them: `pg_basebackup` of the leader, the WAL archive every leader fills
(`archive_command`), and a restore that replays the archive onto the base backup up to a
moment just before the damage.

The restore is Patroni's own custom bootstrap: every member is stopped, the damaged data
directories are moved aside (kept for forensics), and the first member bootstraps a new
cluster scope by copying the base backup and recovering with `restore_command` up to
`recovery_target_time`, then promotes; the other members clone from it as usual. The
members keep their ports, so HAProxy and the services' DSN stay valid throughout.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from harness.errors import RunFailed
from harness.topology.postgres.patroni import dcs_settings, member_config, render
from harness.topology.postgres.sql import connect
from harness.topology.processes import wait_for

PAGE_BYTES = 8192
BOOTSTRAP_SCRIPT = """#!/bin/sh
# Patroni's custom bootstrap: copy the base backup into --datadir (Patroni passes it).
for arg in "$@"; do
  case "$arg" in --datadir=*) datadir="${arg#--datadir=}" ;; esac
done
mkdir -p "$datadir" && cp -a BASE_BACKUP/. "$datadir"/ && chmod 700 "$datadir"
"""


@dataclass(frozen=True)
class Corruption:
    """What `corrupt_relation` overwrote: the relation, its file, the pages and when."""

    relation: str
    path: str
    pages: tuple[int, ...]
    t: float


def take_base_backup(cluster: Any, timeout_s: float = 120.0) -> Path:
    """`pg_basebackup` of the leader into `<cluster>/basebackup` (replacing an older one)."""
    leader = cluster.leader()
    if leader is None:
        raise RunFailed("no leader to take a base backup from")
    target: Path = cluster.directory / "basebackup"
    if target.exists():
        shutil.rmtree(target)
    cluster.run_as.own(target.parent / "basebackup")
    argv = [*cluster.run_as.prefix, cluster.binaries.pg("pg_basebackup"), "-D", str(target),
            "-h", "127.0.0.1", "-p", str(cluster.members[leader].ports.pg_port),
            "-U", "replicator", "-X", "stream", "-c", "fast", "--no-password"]  # fmt: skip
    env = {**os.environ, "PGPASSFILE": str(_replication_passfile(cluster))}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        raise RunFailed(f"pg_basebackup failed: {done.stderr.strip()[-300:]}")
    cluster.emit("postgres_base_backup", path=str(target), leader=leader)
    return target


def corrupt_relation(
    cluster: Any, relation: str, pages: int, seed: int | None = None
) -> Corruption:
    """Overwrite the middle of `pages` pages of `relation`'s file on the leader with random
    bytes (page headers kept, so only the checksum can tell), after a checkpoint so that no
    dirty buffer writes the pages back, and restart the leader's PostgreSQL so that its next
    reads come from disk (shared buffers would keep serving the clean copies meanwhile)."""
    leader = cluster.leader()
    if leader is None:
        raise RunFailed("no leader to corrupt")
    member = cluster.members[leader]
    with connect(cluster.member_dsn(leader, cluster.config.database)) as conn:
        conn.execute("checkpoint")
        row = conn.execute("select pg_relation_filepath(%s)", (relation,)).fetchone()
    if row is None or row[0] is None:
        raise RunFailed(f"no relation {relation!r} in database {cluster.config.database}")
    path = member.data_dir / str(row[0])
    size = path.stat().st_size
    count = size // PAGE_BYTES
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(count), min(pages, count)))
    t = time.time()
    with path.open("r+b") as out:
        for page in chosen:
            out.seek(page * PAGE_BYTES + 1024)
            out.write(rng.randbytes(PAGE_BYTES // 2))
        out.flush()
        os.fsync(out.fileno())
    restarted = member.rest.post("/restart", {})
    if restarted not in (200, 202):
        raise RunFailed(f"Patroni refused to restart {leader} (HTTP {restarted})")
    return Corruption(relation, str(path), tuple(chosen), t)


def checksum_failures(cluster: Any) -> int:
    """`pg_stat_database.checksum_failures` of the application database on the leader."""
    leader = cluster.leader()
    if leader is None:
        return 0
    with connect(cluster.member_dsn(leader)) as conn:
        row = conn.execute("select coalesce(sum(checksum_failures), 0)::bigint from "
                           "pg_stat_database").fetchone()  # fmt: skip
    return int(row[0]) if row else 0


def restore_to(cluster: Any, target_t: float, timeout_s: float = 180.0) -> dict[str, Any]:
    """Point-in-time recovery of the whole cluster to `target_t` (see the module docstring)."""
    started = time.monotonic()
    base = cluster.directory / "basebackup"
    if not base.is_dir():
        raise RunFailed("no base backup to restore (take_base_backup first)")
    leader = _archive_current_wal(cluster)
    # The leader last: a replica still running when the leader stops takes the leader key
    # and promotes itself onto a new timeline, which the replay then follows (`latest`) past
    # the WAL that holds the target, and ends before reaching it.
    for member in sorted(cluster.members.values(), key=lambda m: m.name == leader):
        member.stop(30.0)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for member in cluster.members.values():
        if member.data_dir.exists():
            member.data_dir.rename(member.directory / f"data.damaged-{stamp}")
    cluster.scope = f"harness-{uuid.uuid4().hex[:8]}"  # a fresh cluster in the DCS
    first, *others = cluster.members.values()
    _write_configs(cluster, first, target_t)
    cluster.lost = {m.name for m in others}  # stopped on purpose until the leader is up
    first.start()
    cluster.wait_leader(timeout_s)
    for member in others:
        member.start()
        cluster.lost.discard(member.name)
    cluster.wait_streaming(timeout_s)
    target = dt.datetime.fromtimestamp(target_t, dt.UTC).isoformat()
    result = {"target_time": target, "duration_s": round(time.monotonic() - started, 3),
              "leader": cluster.leader(), "scope": cluster.scope}  # fmt: skip
    cluster.emit("postgres_pitr_restored", **result)
    return result


def _archive_current_wal(cluster: Any) -> str | None:
    """Switch the leader to a new WAL segment and wait until the old one is archived, so the
    replay reaches the target; a leader that no longer answers is skipped. The leader."""
    leader: str | None = cluster.leader()
    if leader is None:
        return None
    try:
        with connect(cluster.member_dsn(leader)) as conn:
            row = conn.execute("select pg_walfile_name(pg_switch_wal())").fetchone()
    except psycopg.Error:  # a dead leader: replay what the archive has
        return leader
    if row is None:
        return leader
    segment = str(row[0])
    wait_for(lambda: (cluster.archive_dir / segment).exists(), 30.0,
             f"WAL segment {segment} to be archived", interval_s=0.1)  # fmt: skip
    return leader


def _write_configs(cluster: Any, first: Any, target_t: float) -> None:
    text = BOOTSTRAP_SCRIPT.replace("BASE_BACKUP", str(cluster.directory / "basebackup"))
    script = cluster.run_as.write(cluster.directory / "bootstrap-from-backup.sh", text, 0o700)
    target = dt.datetime.fromtimestamp(target_t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")

    bootstrap = {
        "dcs": dcs_settings(cluster.config, cluster.archive_dir),
        "method": "pitr",
        "pitr": {
            "command": str(script),
            "keep_existing_recovery_conf": False,
            "recovery_conf": {
                "restore_command": f"cp {cluster.archive_dir}/%f %p",
                "recovery_target_time": target,
                "recovery_target_inclusive": "false",
                "recovery_target_action": "promote",
            },
        },
    }
    for member in cluster.members.values():
        config = member_config(
            cluster.config, member.ports, scope=cluster.scope, etcd_port=cluster.etcd_port,
            member_dir=member.directory, archive_dir=cluster.archive_dir,
            secrets=cluster.secrets, bootstrap=bootstrap if member is first else None,
        )  # fmt: skip
        cluster.run_as.write(member.config_path, render(config))


def _replication_passfile(cluster: Any) -> Path:
    path: Path = cluster.directory / "backup.pgpass"
    cluster.run_as.write(path, f"127.0.0.1:*:*:replicator:{cluster.secrets.replication}\n")
    return path
