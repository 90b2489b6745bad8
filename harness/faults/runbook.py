"""Runbook actions: the recovery steps a scenario's `[[recovery.steps]]` name, each real.

    result = run_action("restore_backup", {}, ctx)      # -> dict, and a recovery_action event

`ACTIONS` lists every action; `check_action` / `check_steps` validate names and params with
the scenario file's precise errors (a ConfigError naming the file, the step and the key),
so a runner checks a scenario before anything starts. `run_action` validates, runs, and
records `recovery_action` {action, detail (one line), ok, took_s, started_t, result} with
`t` = when the action finished; a failed action is recorded with ok = false and raised as
`ActionFailed`. Implementations live in `harness.faults.dr` and are imported when used.
See docs/faults.md for every action's params and result.
"""

from __future__ import annotations

import difflib
import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from harness.errors import ConfigError, HarnessError, RunFailed
from harness.faults.base import FaultContext, FaultError
from harness.scenarios.model import RecoveryStep
from harness.toml_table import Table


class ActionFailed(RunFailed):
    """A runbook action ran and failed; `action` names it, `detail` says why."""

    def __init__(self, action: str, detail: str) -> None:
        self.action = action
        self.detail = detail
        super().__init__(f"runbook action {action}: {detail}")


def _opt_bool(table: Table, key: str) -> bool | None:
    return table.boolean(key, False) if table.has(key) else None


def _no_params(table: Table) -> dict[str, Any]:
    return {}


def _promote_params(table: Table) -> dict[str, Any]:
    return {"offline": _opt_bool(table, "offline"), "purge_cdn": table.boolean("purge_cdn", True)}


def _restore_params(table: Table) -> dict[str, Any]:
    return {"path": table.opt_string("path")} | _promote_params(table)


def _integrity_params(table: Table) -> dict[str, Any]:
    return {
        "target": table.choice("target", ("primary", "standby", "backups"), "primary"),
        "max_errors": table.integer("max_errors", 20, low=1, high=10_000),
    }


def _timeout_params(table: Table) -> dict[str, Any]:
    return {"timeout_s": table.duration("timeout_s", 60.0)}


def _region_params(table: Table) -> dict[str, Any]:
    return {"region": table.opt_string("region")} | _timeout_params(table)


def _toxic_params(table: Table) -> dict[str, Any]:
    return {"name": table.opt_string("name"), "scope": table.opt_string("scope")}


def _revoke_params(table: Table) -> dict[str, Any]:
    return {"kid": table.string("kid", "leaked")}


def _revert_params(table: Table) -> dict[str, Any]:
    return {
        "since_leak": table.boolean("since_leak", True),
        "purge_cdn": table.boolean("purge_cdn", True),
    }


def _relation_params(table: Table) -> dict[str, Any]:
    relation = table.string("relation", "items")
    if not relation.replace("_", "").isalnum():
        raise table.error(f"expected a table name, got {relation!r}", "relation")
    return {"relation": relation}


def _wait_params(table: Table) -> dict[str, Any]:
    path = table.string("path", "/readyz")
    if not path.startswith("/"):
        raise table.error(f"expected a path starting with /, got {path!r}", "path")
    return {"path": path, "timeout_s": table.duration("timeout_s", 15.0)}


@dataclass(frozen=True)
class Action:
    """One runbook action: what it does, how its params are read, where it is implemented,
    and the one-line `detail` of its event (`brief`, formatted with the result's keys)."""

    name: str
    summary: str
    read_params: Callable[[Table], dict[str, Any]]
    target: str
    brief: str


_DR = "harness.faults.dr"
_ALL = (
    Action("promote_standby", "make the standby the primary (live, or offline when it is lost)",
           _promote_params, f"{_DR}.database:promote_standby",
           "standby promoted ({mode}) at seq {seq}, synced at {standby_last_sync_t}"),
    Action("restore_backup", "restore the newest intact backup into the primary",
           _restore_params, f"{_DR}.corruption:restore_backup",
           "restored {source} ({mode}) at seq {backup_seq}; {writes_discarded} writes discarded"),
    Action("integrity_check", "PRAGMA integrity_check of the primary, standby or backups",
           _integrity_params, f"{_DR}.corruption:integrity_check", "{target}: {verdict}"),
    Action("cold_start", "start every process again from what is on disk",
           _timeout_params, f"{_DR}.processes:cold_start", "all ready after {duration_s}s"),
    Action("restore_region", "let held processes of a region (default: all) run again",
           _region_params, f"{_DR}.processes:restore_region",
           "{regions} ready after {duration_s}s"),
    Action("remove_toxics", "remove the router's toxics (all, or by name and/or scope)",
           _toxic_params, f"{_DR}.region:remove_toxics", "removed {removed}"),
    Action("rotate_keys", "a new active signing key; the old one retired (still verifies)",
           _no_params, f"{_DR}.breach:rotate_keys", "active kid {active_kid}, retired {retired}"),
    Action("revoke_kid", "refuse every token of a key (`leaked`: the key the breach leaked)",
           _revoke_params, f"{_DR}.breach:revoke_kid",
           "revoked {revoked_kid}; active kid {active_kid}"),
    Action("restore_attacker_changes", "undo every write made with a forged token",
           _revert_params, f"{_DR}.revert:restore_attacker_changes",
           "{forged_writes} forged writes, {reverted} undone"),
    Action("checksum_check", "read a PostgreSQL table on the leader: checksum failures met",
           _relation_params, "harness.faults.infra.pg_corruption:checksum_check",
           "{relation}: {verdict} ({checksum_failures} checksum failures)"),
    Action("pitr_restore", "restore the cluster from its base backup and WAL archive to "
           "just before the damage", _timeout_params,
           "harness.faults.infra.pg_corruption:pitr_restore",
           "restored to {target_time} in {duration_s}s; leader {leader}"),
    Action("wait_ready", "wait until the router answers /readyz (or `path`) with 200",
           _wait_params, f"{_DR}.processes:wait_ready", "{url} ready after {ready_after_s}s"),
)  # fmt: skip

ACTIONS: Mapping[str, Action] = MappingProxyType({action.name: action for action in _ALL})
"""Every runbook action by name."""


def check_action(
    name: str, params: Mapping[str, Any], source: str = "runbook", where: str = "step"
) -> dict[str, Any]:
    """The typed params of action `name`; ConfigError naming `source: where.key` otherwise."""
    action = ACTIONS.get(name)
    if action is None:
        close = difflib.get_close_matches(name, list(ACTIONS), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"unknown runbook action {name!r}{hint}; expected one of {', '.join(ACTIONS)}",
            f"{source}: {where}.action",
        )
    table = Table(params, source, f"{where}.params")
    kwargs = action.read_params(table)
    table.finish()
    return kwargs


def check_steps(steps: Sequence[RecoveryStep], source: str) -> None:
    """Validate a scenario's `recovery.steps` (names and params) before the run starts."""
    for index, step in enumerate(steps):
        check_action(step.action, step.params, source, f"recovery.steps[{index}]")


def run_action(
    name: str, params: Mapping[str, Any], ctx: FaultContext, *, automatic: bool = False
) -> dict[str, Any]:
    """Run one action, record its `recovery_action` event, return its result.

    `automatic` marks an action the deployment took by itself (the failover watcher).
    Raises ConfigError for an unknown action or bad params, ActionFailed when it failed.
    """
    kwargs = check_action(name, params)
    action = ACTIONS[name]
    started_t, started = ctx.clock(), time.monotonic()
    extra = {"automatic": True} if automatic else {}
    try:
        result: dict[str, Any] = _resolve(action.target)(ctx, **kwargs)
    except Exception as exc:
        detail = _why(exc)
        ctx.emit(
            "recovery_action",
            action=name,
            detail=detail,
            ok=False,
            t=ctx.clock(),
            took_s=round(time.monotonic() - started, 3),
            started_t=started_t,
            **extra,
        )
        raise ActionFailed(name, detail) from exc
    ctx.emit(
        "recovery_action",
        action=name,
        detail=_brief(action, result),
        ok=True,
        t=ctx.clock(),
        took_s=round(time.monotonic() - started, 3),
        started_t=started_t,
        result=result,
        **extra,
    )
    return result


def _why(exc: Exception) -> str:
    """One line saying why an action failed (the project's errors carry their own)."""
    if isinstance(exc, FaultError):
        return exc.detail
    return str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"


def _brief(action: Action, result: Mapping[str, Any]) -> str:
    """The action's one-line detail: its template filled from the result, lists joined."""
    flat = {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in result.items()}
    try:
        return action.brief.format_map(flat)
    except (KeyError, IndexError, ValueError):
        return action.summary


def _resolve(path: str) -> Callable[..., dict[str, Any]]:
    module_name, _, attribute = path.partition(":")
    function: Callable[..., dict[str, Any]] = getattr(
        importlib.import_module(module_name), attribute
    )
    return function


__all__ = ["ACTIONS", "Action", "ActionFailed", "check_action", "check_steps", "run_action"]
