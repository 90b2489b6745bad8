"""Choosing and checking the read-back adapter of a scenario.

`check_readback` runs before anything starts (exit 2 naming the key): the `[readback]`
table itself, the environment variables its headers or DSN name, a URL template naming a
field the locustfile never records (found by reading its `ledger.record(...)` calls; a call
with `**fields` leaves that to the run), and a DSN that does not connect or a query that
fails. `build_adapter` makes the adapter for a started target. No gevent import here.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError
from harness.runner.readback.spec import (
    HttpSpec,
    LookupSpec,
    ReadbackSpec,
    SqlSpec,
    readback_spec,
    resolve_headers,
)
from harness.scenarios.model import Scenario

if TYPE_CHECKING:
    from harness.runner.readback.core import Adapter

REFERENCE_FIELDS = frozenset({"seq", "op", "item_id"})
"""What the reference users record with each write."""


def scenario_dir(scenario: Scenario) -> Path:
    """The folder relative paths of the scenario file are taken from."""
    return Path(scenario.source).resolve().parent if scenario.source else Path.cwd()


def check_readback(scenario: Scenario, locustfile: Path | None) -> ReadbackSpec:
    """The scenario's read-back spec, checked as far as possible before the run."""
    source = scenario.source or scenario.name
    spec = readback_spec(scenario.readback, source)
    if isinstance(spec, HttpSpec):
        resolve_headers(spec, f"{source}: readback.headers")
        recorded = REFERENCE_FIELDS if locustfile is None else recorded_fields(locustfile)
        for name in spec.fields:
            if recorded is not None and name not in recorded:
                known = ", ".join(sorted(recorded)) or "no fields"
                raise ConfigError(
                    f"the template names {{{name}}}, which the users never record "
                    f"(ledger.record gets: {known})",
                    f"{source}: readback.url",
                )
    elif isinstance(spec, SqlSpec):
        from harness.runner.readback.sql import SqlAdapter

        try:
            SqlAdapter(spec, scenario_dir(scenario)).probe()
        except ConfigError as exc:
            message = str(exc).removeprefix(f"{exc.where}: ")
            raise ConfigError(f"the read-back database: {message}", f"{source}: readback.dsn"
                              ) from None  # fmt: skip
    return spec


def recorded_fields(locustfile: Path) -> frozenset[str] | None:
    """Field names the locustfile's `ledger.record(key, name=...)` calls pass; None when a
    call passes `**fields` (not knowable before the run)."""
    tree = ast.parse(locustfile.read_text(encoding="utf-8"), str(locustfile))
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        owner = func.value if isinstance(func, ast.Attribute) else None
        if called != "record" or (isinstance(owner, ast.Name) and owner.id != "ledger"):
            continue
        for keyword in node.keywords:
            if keyword.arg is None:
                return None
            names.add(keyword.arg)
    return frozenset(names)


def build_adapter(
    spec: ReadbackSpec,
    base_url: str,
    token: Callable[[], str | None],
    base_dir: Path,
) -> Adapter:
    """The adapter for a started target at `base_url` (`token()` only for lookup)."""
    if isinstance(spec, LookupSpec):
        from harness.runner.readback.lookup import LookupAdapter

        return LookupAdapter(base_url, token())
    if isinstance(spec, HttpSpec):
        from harness.runner.readback.http_get import HttpAdapter

        return HttpAdapter(spec, base_url, resolve_headers(spec))
    from harness.runner.readback.sql import SqlAdapter

    return SqlAdapter(spec, base_dir)
