"""The `[readback]` table of a scenario file, read into one frozen spec per adapter type.

    [readback]                      # absent: type = "lookup" (the reference service's API)
    type = "http"                   # lookup | http | sql
    url = "/orders/{key}"           # http: a template over `key` and the recorded fields
    present = [200]                 # http: statuses meaning "the write is there"
    absent = [404, 410]             # http: statuses meaning "it is gone" (lost)
    concurrency = 8                 # http: requests in flight
    timeout_s = 5                   # http: per request
    headers = { Authorization = "$ORDERS_TOKEN" }   # "$NAME" / "env:NAME": from the environment

    type = "sql"
    dsn = "sqlite:///var/lib/shop.db"               # or postgresql://... ("$NAME" works too)
    query = "SELECT id FROM orders WHERE id IN (SELECT value FROM json_each(?))"
    batch = 1000                    # keys bound to one execution

Every problem is a ConfigError naming the file and the key (exit 2). Secrets (header
values, a DSN's password) are resolved only when the adapter is built and never written:
`redacted(table)` is what run.json gets.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harness.errors import ConfigError
from harness.redaction import REDACTED, redact_url
from harness.toml_table import Table

READBACK_TYPES = ("lookup", "http", "sql")
DEFAULT_PRESENT = (200,)
DEFAULT_ABSENT = (404, 410)
DEFAULT_CONCURRENCY = 8
DEFAULT_REQUEST_TIMEOUT_S = 5.0
DEFAULT_SQL_BATCH = 1000


@dataclass(frozen=True)
class LookupSpec:
    """`POST /api/writes/lookup` on the target (the reference service's own API)."""

    type: str = "lookup"


@dataclass(frozen=True)
class HttpSpec:
    """One GET per key on `url` (a template); its status says present, absent or neither."""

    url: str
    fields: tuple[str, ...]
    """The template's field names other than `key` (each must be in every ledger entry)."""
    present: tuple[int, ...] = DEFAULT_PRESENT
    absent: tuple[int, ...] = DEFAULT_ABSENT
    concurrency: int = DEFAULT_CONCURRENCY
    timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    headers: tuple[tuple[str, str], ...] = ()
    """(name, value as written): a value "$NAME" or "env:NAME" is read at `resolve_headers`."""
    type: str = "http"


@dataclass(frozen=True)
class SqlSpec:
    """A query over a batch of keys returning the keys present, on PostgreSQL or SQLite."""

    dsn: str
    """As written: a URL, or "$NAME"/"env:NAME" naming the variable that holds it."""
    query: str
    batch: int = DEFAULT_SQL_BATCH
    type: str = "sql"


ReadbackSpec = LookupSpec | HttpSpec | SqlSpec


def readback_spec(table: Mapping[str, Any] | None, source: str) -> ReadbackSpec:
    """The spec of a `[readback]` table (None: lookup); ConfigError naming the key."""
    if table is None:
        return LookupSpec()
    reader = Table(table, source, "readback")
    kind = reader.choice("type", READBACK_TYPES, "lookup")
    spec: ReadbackSpec
    if kind == "lookup":
        spec = LookupSpec()
    elif kind == "http":
        spec = _http(reader)
    else:
        spec = _sql(reader)
    reader.finish()
    return spec


def _http(table: Table) -> HttpSpec:
    url = table.string("url", required=True)
    fields = template_fields(url, table.where("url"))
    if not url.startswith("/"):
        parts = urlsplit(url.replace("{", "").replace("}", ""))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise table.error(f"expected a path (/orders/{{key}}) or an http(s) URL, got {url!r}",
                              "url")  # fmt: skip
    present = _statuses(table, "present", DEFAULT_PRESENT)
    absent = _statuses(table, "absent", DEFAULT_ABSENT)
    if both := sorted(set(present) & set(absent)):
        raise table.error(f"status {both[0]} is also in present", "absent")
    headers_table = table.table("headers")
    headers: list[tuple[str, str]] = []
    if headers_table is not None:
        for name in headers_table.data:
            headers.append((name, headers_table.string(name)))
            env_value(headers[-1][1], headers_table.where(name))  # the variable must be set
        headers_table.finish()
    return HttpSpec(
        url=url,
        fields=tuple(f for f in fields if f != "key"),
        present=present,
        absent=absent,
        concurrency=table.integer("concurrency", DEFAULT_CONCURRENCY, low=1, high=1024),
        timeout_s=table.duration("timeout_s", DEFAULT_REQUEST_TIMEOUT_S),
        headers=tuple(headers),
    )


def _sql(table: Table) -> SqlSpec:
    dsn = table.string("dsn", required=True)
    resolved = env_value(dsn, table.where("dsn"))
    scheme = urlsplit(resolved).scheme
    if scheme not in ("postgresql", "postgres", "sqlite"):
        raise table.error(
            f"expected postgresql://... or sqlite:///path, got a {scheme or 'bare'} DSN", "dsn"
        )
    query = table.string("query", required=True)
    return SqlSpec(
        dsn=dsn, query=query, batch=table.integer("batch", DEFAULT_SQL_BATCH, low=1, high=100_000)
    )


def _statuses(table: Table, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
    value = table.raw(key)
    if value is None:
        return default
    if not isinstance(value, list) or not value:
        raise table.error("expected a non-empty array of HTTP statuses", key)
    for index, status in enumerate(value):
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise table.error(f"expected an HTTP status (100..599), got {status!r}",
                              f"{key}[{index}]")  # fmt: skip
    return tuple(value)


def template_fields(template: str, where: str) -> tuple[str, ...]:
    """The names a URL template uses (`{key}`, `{order_id}`); ConfigError for anything else."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"not a valid template: {exc}", where) from None
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ConfigError(
                f"expected plain names such as {{key}} or {{order_id}}, got {{{name}}}", where
            )
        names.append(name)
    if not names:
        raise ConfigError("expected the template to name {key} or a recorded field", where)
    return tuple(dict.fromkeys(names))


def env_value(value: str, where: str) -> str:
    """`value`, or the environment variable it names ("$NAME" or "env:NAME")."""
    name = None
    if value.startswith("env:"):
        name = value[4:]
    elif value.startswith("$"):
        name = value[1:].strip("{}")
    if name is None:
        return value
    if not name or name not in os.environ:
        raise ConfigError(f"environment variable {name!r} is not set", where)
    return os.environ[name]


def resolve_headers(spec: HttpSpec, where: str = "readback.headers") -> dict[str, str]:
    """The headers with "$NAME"/"env:NAME" values read from the environment (never written)."""
    return {name: env_value(value, f"{where}.{name}") for name, value in spec.headers}


def is_env_reference(value: str) -> bool:
    """True for "$NAME" and "env:NAME" (safe to write: the value stays in the environment)."""
    return value.startswith(("$", "env:"))


def redacted(table: Mapping[str, Any]) -> dict[str, Any]:
    """The `[readback]` table as run.json may hold it: no header value, no DSN password."""
    out = dict(table)
    headers = out.get("headers")
    if isinstance(headers, Mapping):
        out["headers"] = {
            name: value if isinstance(value, str) and is_env_reference(value) else REDACTED
            for name, value in headers.items()
        }
    dsn = out.get("dsn")
    if isinstance(dsn, str) and not is_env_reference(dsn):
        out["dsn"] = redact_dsn(dsn)
    return out


def redact_dsn(dsn: str) -> str:
    """The DSN without its password (`postgresql://app:<redacted>@host/db`); one without a
    password as written (`sqlite:////abs.db` would lose a slash in a round trip)."""
    return redact_url(dsn) if urlsplit(dsn).password else dsn
