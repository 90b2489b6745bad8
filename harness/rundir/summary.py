"""summary.json, typed: `Summary` and its parts (docs/run-directory.md, schema 1).

The analysis builds a `Summary`; the report, JUnit, Markdown, the suite and the terminal
tables read its attributes. `Summary.to_dict()` is exactly the documented JSON document and
`Summary.from_dict()` reads one back (a summary.json written by an earlier version too).
The request figures of each scope, `Metrics` and `Latency`, are in harness.rundir.metrics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from harness.errors import ConfigError
from harness.rundir.deltas import BaselineDeltas
from harness.rundir.fields import (
    JSONObject,
    object_list,
    opt_float,
    opt_object,
    opt_str,
    req_bool,
    req_float,
    req_int,
    req_object,
    req_str,
    unknown_fields,
)
from harness.rundir.files import SCHEMA_VERSION, RunDir, write_json_atomic
from harness.rundir.generator import ExtremeOutcome, GeneratorReport
from harness.rundir.manifest import RunStatus
from harness.rundir.metrics import Metrics
from harness.rundir.recovery import Recovery


class Verdict(StrEnum):
    """A judged run's verdict.

    `incomplete`: the run was interrupted or never finished, so it cannot pass, whatever
    its thresholds say; `error`: the run itself failed; `aborted`: an `abort_on_fail`
    threshold failed while the run went, and the run stopped itself (exit 1, as `fail`).
    """

    PASS = "pass"
    FAIL = "fail"
    ABORTED = "aborted"
    INCOMPLETE = "incomplete"
    ERROR = "error"


_THRESHOLD_KEYS = frozenset(
    {"expr", "ok", "message", "scope", "metric", "op", "limit", "unit", "observed", "source",
     "baseline", "relative_pct"}
)  # fmt: skip
_SUMMARY_KEYS = frozenset(
    {"schema", "run_id", "profile", "scenario", "status", "complete", "started_at", "ended_at",
     "duration_s", "totals", "endpoints", "workers", "recovery", "thresholds", "verdict",
     "error", "baseline", "abort", "generator", "extreme"}
)  # fmt: skip


@dataclass(frozen=True)
class ThresholdRow:
    """One evaluated threshold; `observed` and `limit` are in `unit`."""

    expr: str
    ok: bool
    message: str
    scope: str | None = None
    metric: str = ""
    op: str = ""
    limit: float | None = None
    unit: str = ""
    observed: float | None = None
    source: str | None = None
    baseline: float | None = None
    relative_pct: float | None = None
    extra: JSONObject = field(default_factory=dict)
    """Fields this version does not know (written back unchanged)."""

    @classmethod
    def from_dict(cls, data: JSONObject, where: str) -> ThresholdRow:
        """From one row of summary.json's `thresholds`."""
        return cls(
            expr=req_str(data, "expr", where),
            ok=req_bool(data, "ok", where),
            message=req_str(data, "message", where),
            scope=opt_str(data, "scope", where),
            metric=req_str(data, "metric", where),
            op=req_str(data, "op", where),
            limit=opt_float(data, "limit", where),
            unit=req_str(data, "unit", where),
            observed=opt_float(data, "observed", where),
            source=opt_str(data, "source", where),
            baseline=opt_float(data, "baseline", where),
            relative_pct=opt_float(data, "relative_pct", where),
            extra=unknown_fields(data, _THRESHOLD_KEYS),
        )

    def to_dict(self) -> dict[str, object]:
        """summary.json's threshold row (`baseline`, `relative_pct` only when relative)."""
        out: dict[str, object] = {
            "expr": self.expr,
            "scope": self.scope,
            "metric": self.metric,
            "op": self.op,
            "limit": self.limit,
            "unit": self.unit,
            "observed": self.observed,
            "ok": self.ok,
            "message": self.message,
            "source": self.source,
        }
        if self.relative_pct is not None:
            out["baseline"] = self.baseline
            out["relative_pct"] = self.relative_pct
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Abort:
    """summary.json's `abort`: the threshold that stopped the run, and what it saw."""

    threshold: str
    source: str
    message: str
    t: float
    observed: float | None = None

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = "summary.json: abort") -> Abort:
        """A decoded `abort` object."""
        return cls(
            threshold=req_str(data, "threshold", where),
            source=req_str(data, "source", where),
            message=req_str(data, "message", where),
            t=req_float(data, "t", where),
            observed=opt_float(data, "observed", where),
        )

    def to_dict(self) -> dict[str, object]:
        """The summary.json object."""
        return {
            "threshold": self.threshold,
            "source": self.source,
            "message": self.message,
            "t": self.t,
            "observed": self.observed,
        }


@dataclass(frozen=True)
class Summary:
    """summary.json: a run's figures, thresholds and verdict."""

    run_id: str
    status: RunStatus
    complete: bool
    verdict: Verdict
    totals: Metrics = field(default_factory=Metrics)
    endpoints: dict[str, Metrics] = field(default_factory=dict)
    workers_count: int = 0
    workers_lost: int = 0
    recovery: Recovery | None = None
    thresholds: tuple[ThresholdRow, ...] = ()
    profile: str | None = None
    scenario: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    duration_s: float = 0.0
    error: str | None = None
    baseline: BaselineDeltas | None = None
    """The comparison with a baseline run (docs/thresholds.md), when judged against one."""
    abort: Abort | None = None
    """Why the run stopped itself (verdict `aborted`), else None."""
    generator: GeneratorReport | None = None
    """How busy the load generator was (None: no cpu.jsonl, an older run)."""
    extreme: ExtremeOutcome | None = None
    """Why an Extreme run stopped stepping, and the highest rate that held."""
    schema: int = SCHEMA_VERSION
    extra: JSONObject = field(default_factory=dict)
    """Fields this version does not know (written back unchanged)."""

    @property
    def failed_thresholds(self) -> list[ThresholdRow]:
        """The thresholds that did not hold."""
        return [t for t in self.thresholds if not t.ok]

    @property
    def name(self) -> str:
        """The scenario's name, or the run id."""
        return self.scenario or self.run_id

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = "summary.json") -> Summary:
        """A decoded summary.json (any version of schema 1)."""
        try:
            status = RunStatus(req_str(data, "status", where, RunStatus.RUNNING.value))
            verdict = Verdict(req_str(data, "verdict", where, Verdict.ERROR.value))
        except ValueError as exc:
            raise ConfigError(str(exc), where) from None
        endpoints = req_object(data, "endpoints", where)
        workers = req_object(data, "workers", where)
        recovery = opt_object(data, "recovery", where)
        base = opt_object(data, "baseline", where)
        abort = opt_object(data, "abort", where)
        generator = opt_object(data, "generator", where)
        extreme = opt_object(data, "extreme", where)
        return cls(
            schema=req_int(data, "schema", where, SCHEMA_VERSION),
            run_id=req_str(data, "run_id", where),
            profile=opt_str(data, "profile", where),
            scenario=opt_str(data, "scenario", where),
            status=status,
            complete=req_bool(data, "complete", where),
            started_at=opt_float(data, "started_at", where),
            ended_at=opt_float(data, "ended_at", where),
            duration_s=req_float(data, "duration_s", where),
            totals=Metrics.from_dict(req_object(data, "totals", where), f"{where}: totals"),
            endpoints={
                str(name): Metrics.from_dict(req_object(endpoints, name, where), f"{where}: {name}")
                for name in endpoints
            },
            workers_count=req_int(workers, "count", where),
            workers_lost=req_int(workers, "lost", where),
            recovery=None if recovery is None else Recovery.from_dict(recovery),
            thresholds=tuple(
                ThresholdRow.from_dict(row, f"{where}: thresholds")
                for row in object_list(data, "thresholds", where)
            ),
            verdict=verdict,
            error=opt_str(data, "error", where),
            baseline=None if base is None else BaselineDeltas.from_dict(base, f"{where}: baseline"),
            abort=None if abort is None else Abort.from_dict(abort, f"{where}: abort"),
            generator=None
            if generator is None
            else GeneratorReport.from_dict(generator, f"{where}: generator"),
            extreme=None
            if extreme is None
            else ExtremeOutcome.from_dict(extreme, f"{where}: extreme"),
            extra=unknown_fields(data, _SUMMARY_KEYS),
        )

    def to_dict(self) -> dict[str, object]:
        """The summary.json document, in the contract's field order."""
        out: dict[str, object] = {
            "schema": self.schema,
            "run_id": self.run_id,
            "profile": self.profile,
            "scenario": self.scenario,
            "status": self.status.value,
            "complete": self.complete,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": self.duration_s,
            "totals": self.totals.to_dict(),
            "endpoints": {name: m.to_dict() for name, m in self.endpoints.items()},
            "workers": {"count": self.workers_count, "lost": self.workers_lost},
            "recovery": None if self.recovery is None else self.recovery.to_dict(),
            "thresholds": [t.to_dict() for t in self.thresholds],
            "verdict": self.verdict.value,
            "error": self.error,
        }
        if self.abort is not None:
            out["abort"] = self.abort.to_dict()
        if self.generator is not None:
            out["generator"] = self.generator.to_dict()
        if self.extreme is not None:
            out["extreme"] = self.extreme.to_dict()
        if self.baseline is not None:
            out["baseline"] = self.baseline.to_dict()
        out.update(self.extra)
        return out


def as_summary(summary: Summary | Mapping[str, object]) -> Summary:
    """A Summary from a Summary or a decoded summary.json document (normalised once, at the
    edge, so renderers read typed fields)."""
    return summary if isinstance(summary, Summary) else Summary.from_dict(summary)


def read_summary(run_dir: Path | str) -> Summary:
    """The run's summary.json (ConfigError when it is missing or unreadable)."""
    path = RunDir(Path(run_dir)).summary
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"unreadable summary.json: {exc}", str(path)) from None
    if not isinstance(data, Mapping):
        raise ConfigError("summary.json is not a JSON object", str(path))
    return Summary.from_dict(data, str(path))


def write_summary_file(run_dir: Path, summary: Summary) -> Path:
    """Write summary.json atomically; its path."""
    path = RunDir(Path(run_dir)).summary
    write_json_atomic(path, summary.to_dict())
    return path
