"""run.json, the manifest: what ran, against what, and how it ended (docs/run-directory.md).

`Manifest` is the typed, frozen form; `read_manifest(run_dir)` reads it once (ConfigError
when the folder is not a run directory); `Manifest.to_dict()` writes the documented fields
in the contract's order, and keeps any field it does not know, so a newer writer's
run.json survives a read and rewrite by this version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from harness.errors import ConfigError
from harness.rundir.fields import (
    JSONObject,
    opt_float,
    opt_object,
    opt_str,
    req_bool,
    req_int,
    req_object,
    req_str,
    str_list,
    unknown_fields,
)
from harness.rundir.files import SCHEMA_VERSION, RunDir


class RunStatus(StrEnum):
    """run.json `status`: how the run ended (`running` while it goes, or if it never ended)."""

    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"
    """An `abort_on_fail` threshold failed while the run went: it stopped itself."""
    FAILED = "failed"


class RunKind(StrEnum):
    """run.json `kind`: a plain load run or a scenario."""

    RUN = "run"
    SCENARIO = "scenario"


_KNOWN = (
    "schema",
    "run_id",
    "kind",
    "scenario",
    "profile",
    "target",
    "embedded_service",
    "topology",
    "workers_expected",
    "host",
    "versions",
    "argv",
    "config",
    "thresholds",
    "planned_duration_s",
    "started_at",
    "ended_at",
    "status",
    "error",
)


@dataclass(frozen=True)
class Manifest:
    """run.json, typed. `config` and `topology` stay JSON objects: their shape is the
    run configuration's and the deployment's own (docs/scenarios.md, docs/topology.md)."""

    run_id: str
    kind: RunKind = RunKind.RUN
    scenario: str | None = None
    profile: str | None = None
    target: str = ""
    embedded_service: bool = False
    topology: JSONObject | None = None
    workers_expected: int = 0
    host: str = ""
    versions: JSONObject = field(default_factory=dict)
    argv: tuple[str, ...] = ()
    config: JSONObject = field(default_factory=dict)
    thresholds: tuple[str, ...] = ()
    planned_duration_s: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    status: RunStatus = RunStatus.RUNNING
    error: str | None = None
    schema: int = SCHEMA_VERSION
    extra: JSONObject = field(default_factory=dict)
    """Fields this version does not know (kept on rewrite)."""

    @property
    def complete(self) -> bool:
        """True once the run was finalised: a status other than running, and an end time."""
        return self.status is not RunStatus.RUNNING and self.ended_at is not None

    @property
    def scenario_config(self) -> JSONObject | None:
        """`config.scenario`: the scenario as stored (scenario runs), or None."""
        found = self.config.get("scenario")
        return found if isinstance(found, dict) else None

    def finished(self, status: RunStatus, ended_at: float, error: str | None) -> Manifest:
        """The same manifest with its end recorded."""
        return replace(self, status=status, ended_at=ended_at, error=error)

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = "run.json") -> Manifest:
        """The typed manifest of a decoded run.json (RecordError for a wrong field type)."""
        kind = req_str(data, "kind", where, RunKind.RUN.value)
        status = req_str(data, "status", where, RunStatus.RUNNING.value)
        try:
            run_kind, run_status = RunKind(kind), RunStatus(status)
        except ValueError as exc:
            raise ConfigError(str(exc), where) from None
        return cls(
            schema=req_int(data, "schema", where, SCHEMA_VERSION),
            run_id=req_str(data, "run_id", where),
            kind=run_kind,
            scenario=opt_str(data, "scenario", where),
            profile=opt_str(data, "profile", where),
            target=req_str(data, "target", where),
            embedded_service=req_bool(data, "embedded_service", where),
            topology=opt_object(data, "topology", where),
            workers_expected=req_int(data, "workers_expected", where),
            host=req_str(data, "host", where),
            versions=req_object(data, "versions", where),
            argv=str_list(data, "argv", where),
            config=req_object(data, "config", where),
            thresholds=str_list(data, "thresholds", where),
            planned_duration_s=opt_float(data, "planned_duration_s", where),
            started_at=opt_float(data, "started_at", where),
            ended_at=opt_float(data, "ended_at", where),
            status=run_status,
            error=opt_str(data, "error", where),
            extra=unknown_fields(data, _KNOWN),
        )

    def to_dict(self) -> dict[str, object]:
        """run.json's document, in the contract's field order."""
        out: dict[str, object] = {
            "schema": self.schema,
            "run_id": self.run_id,
            "kind": self.kind.value,
            "scenario": self.scenario,
            "profile": self.profile,
            "target": self.target,
            "embedded_service": self.embedded_service,
            "topology": self.topology,
            "workers_expected": self.workers_expected,
            "host": self.host,
            "versions": dict(self.versions),
            "argv": list(self.argv),
            "config": self.config,
            "thresholds": list(self.thresholds),
            "planned_duration_s": self.planned_duration_s,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "status": self.status.value,
            "error": self.error,
        }
        out.update(self.extra)
        return out


def read_manifest(run_dir: Path | str) -> Manifest:
    """run.json of a run directory; ConfigError when the folder is not a run directory."""
    paths = RunDir(Path(run_dir))
    if not paths.path.is_dir():
        raise ConfigError("no such directory", str(paths.path))
    if not paths.exists():
        raise ConfigError("not a run directory (no run.json)", str(paths.path))
    try:
        data = json.loads(paths.run_json.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"unreadable run.json: {exc}", str(paths.run_json)) from None
    if not isinstance(data, dict):
        raise ConfigError("run.json is not a JSON object", str(paths.run_json))
    manifest = Manifest.from_dict(data, str(paths.run_json))
    if not manifest.run_id:
        manifest = replace(manifest, run_id=paths.path.name)
    return manifest
