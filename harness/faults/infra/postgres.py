"""The `postgres` fault: every client backend of a PostgreSQL server terminated (or its
query cancelled), as an operator's `pg_terminate_backend` or a crashed pooler would.

    [fault]
    type = "postgres"
    params = { dsn = "$PG_ADMIN_DSN", action = "terminate", database = "shop" }

`dsn` (`postgresql://...`, or "$NAME"/"env:NAME" naming the variable holding it) must be a
role allowed to signal the backends (a superuser, or a member of `pg_signal_backend`).
`action` is `terminate` (default: the connections drop) or `cancel` (the running queries
fail, the connections stay). `database` and `user` narrow it to one database or role. The
fault's own connection is spared. Clear does nothing: clients reconnect by themselves, and
how long they take is what the scenario measures. The DSN's password never reaches events.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness.faults.base import FaultContext, FaultError
from harness.redaction import redact_url
from harness.toml_table import Table

ACTIONS = {"terminate": "pg_terminate_backend", "cancel": "pg_cancel_backend"}
CONNECT_TIMEOUT_S = 5


@dataclass
class PostgresFault:
    """Terminate or cancel client backends (see the module docstring)."""

    dsn: str
    action: str = "terminate"
    database: str | None = None
    user: str | None = None
    type: str = "postgres"
    signalled: int | None = field(default=None, init=False)

    @classmethod
    def from_params(cls, params: Table) -> PostgresFault:
        """Build from `[fault.params]`: dsn, action, database, user."""
        dsn = params.string("dsn", required=True)
        resolved = _env_value(dsn, params)
        if urlsplit(resolved).scheme not in ("postgresql", "postgres"):
            raise params.error("expected a postgresql:// DSN", "dsn")
        return cls(
            dsn=dsn,
            action=params.choice("action", tuple(ACTIONS), "terminate"),
            database=params.opt_string("database"),
            user=params.opt_string("user"),
        )

    def describe(self) -> str:
        """One line: what is signalled, where (no password), and how many once done."""
        scope = "".join(
            f" {k} {v}" for k, v in (("database", self.database), ("user", self.user)) if v
        )
        text = f"postgres: {self.action} every client backend{scope} on {_redact(self._dsn())}"
        return text if self.signalled is None else f"{text} ({self.signalled} signalled)"

    def inject(self, ctx: FaultContext) -> None:
        """Signal the backends; FaultError when the server refuses or cannot be reached."""
        import psycopg

        query = (
            f"SELECT count(*) FILTER (WHERE {ACTIONS[self.action]}(pid)) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " AND (%(db)s::text IS NULL OR datname = %(db)s)"
            " AND (%(user)s::text IS NULL OR usename = %(user)s)"
        )
        try:
            with psycopg.connect(self._dsn(), connect_timeout=CONNECT_TIMEOUT_S,
                                 autocommit=True) as conn:  # fmt: skip
                row = conn.execute(query, {"db": self.database, "user": self.user}).fetchone()
        except psycopg.Error as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise FaultError(self.type, f"{_redact(self._dsn())}: {detail}") from None
        self.signalled = int(row[0]) if row else 0

    def clear(self, ctx: FaultContext) -> None:
        """Nothing to undo: the clients reconnect by themselves."""

    def _dsn(self) -> str:
        if self.dsn.startswith(("$", "env:")):
            name = self.dsn[4:] if self.dsn.startswith("env:") else self.dsn[1:].strip("{}")
            value = os.environ.get(name)
            if value is None:
                raise FaultError(self.type, f"environment variable {name!r} is not set")
            return value
        return self.dsn


def _env_value(value: str, params: Table) -> str:
    if not value.startswith(("$", "env:")):
        return value
    name = value[4:] if value.startswith("env:") else value[1:].strip("{}")
    if name not in os.environ:
        raise params.error(f"environment variable {name!r} is not set", "dsn")
    return os.environ[name]


def _redact(dsn: str) -> str:
    return redact_url(dsn) if urlsplit(dsn).password else dsn
