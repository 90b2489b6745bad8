"""Connections to the cluster for the harness's own use (start checks, faults, read-back),
through psycopg 3. Imported only where a PostgreSQL cluster is in play."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql


def connect(dsn: str, *, autocommit: bool = True) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection; psycopg.OperationalError when it cannot be made."""
    return psycopg.connect(dsn, autocommit=autocommit)


def writable_port(dsn: str) -> int | None:
    """The server port a new connection on `dsn` reached when it is a writable primary,
    None when it is a replica or does not answer."""
    try:
        with connect(dsn) as conn:
            row = conn.execute("select inet_server_port(), pg_is_in_recovery()").fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row is not None and not row[1] else None


def create_application_role(dsn: str, user: str, database: str, password: str) -> None:
    """Create the application's login role and its database on the leader at `dsn`,
    unless the role exists already."""
    with connect(dsn, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (user,)).fetchone()
        if exists is None:  # DDL takes no bound parameters: compose it safely instead
            conn.execute(
                sql.SQL("create role {} login password {}").format(
                    sql.Identifier(user), sql.Literal(password)
                )
            )
            conn.execute(
                sql.SQL("create database {} owner {}").format(
                    sql.Identifier(database), sql.Identifier(user)
                )
            )
