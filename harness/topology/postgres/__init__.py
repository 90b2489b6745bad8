"""The reference deployment's PostgreSQL: etcd, Patroni-managed nodes, HAProxy (see
docs/postgresql.md). Importing this package starts nothing and imports no psycopg."""

from __future__ import annotations

from harness.topology.postgres.config import PgClusterConfig

__all__ = ["PgClusterConfig"]
