"""profile.json: where the database time of a run went, and which indexes were shown to help.

One `ProfileSource` per place statement times came from: `service` (the reference service
timing its own statements, per route) and `postgresql` (pg_stat_statements of the database
given by `--profile-dsn`). Each holds its top statements for the measured window, the plans
of the costliest ones, and the index recommendations that were measured on a scratch copy
and sped their statement up (docs/profiling.md, docs/run-directory.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from harness.rundir.fields import (
    JSONObject,
    RecordError,
    object_list,
    opt_float,
    opt_str,
    req_float,
    req_int,
    req_str,
    str_list,
)
from harness.rundir.files import read_json, write_json_atomic

PROFILE = "profile.json"
PROFILE_VERSION = 1


@dataclass(frozen=True)
class StatementStat:
    """One normalized statement (per route for the service) over the measured window."""

    sql: str
    calls: int
    total_ms: float
    rows: int
    share: float
    """This statement's part of the source's database time, 0..1."""
    route: str = ""

    @property
    def mean_ms(self) -> float:
        """Mean time per call."""
        return self.total_ms / self.calls if self.calls else 0.0

    @classmethod
    def from_dict(cls, data: JSONObject, where: str) -> StatementStat:
        """The typed statement of a decoded object."""
        return cls(
            sql=req_str(data, "sql", where),
            calls=req_int(data, "calls", where),
            total_ms=req_float(data, "total_ms", where),
            rows=req_int(data, "rows", where),
            share=req_float(data, "share", where),
            route=req_str(data, "route", where),
        )


@dataclass(frozen=True)
class Plan:
    """A costly statement's plan, and the full scans in it on filtered or sorted columns."""

    sql: str
    lines: tuple[str, ...]
    full_scans: tuple[str, ...] = ()
    """`table(column, ...)` per scan that an index on those columns could avoid."""

    @classmethod
    def from_dict(cls, data: JSONObject, where: str) -> Plan:
        """The typed plan of a decoded object."""
        return cls(
            sql=req_str(data, "sql", where),
            lines=str_list(data, "lines", where),
            full_scans=str_list(data, "full_scans", where),
        )


@dataclass(frozen=True)
class Recommendation:
    """An index measured on a scratch copy of the data: the statement before and after it
    (medians of several executions), its size, and what it adds to one insert."""

    sql: str
    create_index: str
    before_ms: float
    after_ms: float
    index_bytes: int
    insert_before_us: float | None
    """Mean time of one insert into the index's table without it; None when not measurable."""
    insert_after_us: float | None
    applied: bool = False
    """True when `--apply-indexes` created it in the live database."""

    @property
    def speedup(self) -> float:
        """before / after."""
        return self.before_ms / self.after_ms if self.after_ms > 0 else float("inf")

    @property
    def write_cost_us(self) -> float | None:
        """What the index adds to one insert into its table (may be ~0 or noise-negative)."""
        if self.insert_after_us is None or self.insert_before_us is None:
            return None
        return self.insert_after_us - self.insert_before_us

    @classmethod
    def from_dict(cls, data: JSONObject, where: str) -> Recommendation:
        """The typed recommendation of a decoded object."""
        return cls(
            sql=req_str(data, "sql", where),
            create_index=req_str(data, "create_index", where),
            before_ms=req_float(data, "before_ms", where),
            after_ms=req_float(data, "after_ms", where),
            index_bytes=req_int(data, "index_bytes", where),
            insert_before_us=opt_float(data, "insert_before_us", where),
            insert_after_us=opt_float(data, "insert_after_us", where),
            applied=bool(data.get("applied", False)),
        )


@dataclass(frozen=True)
class ProfileSource:
    """Statements, plans and recommendations from one source (`service` or `postgresql`)."""

    source: str
    database: str
    """`sqlite` or `postgresql`: whose SQL the statements are."""
    window_s: float
    db_time_ms: float
    """Database time of every statement of the window (the shares' denominator)."""
    statements: tuple[StatementStat, ...]
    plans: tuple[Plan, ...] = ()
    recommendations: tuple[Recommendation, ...] = ()
    note: str | None = None
    """Why plans or recommendations are missing, when they are."""

    @classmethod
    def from_dict(cls, data: JSONObject, where: str) -> ProfileSource:
        """The typed source of a decoded object."""
        return cls(
            source=req_str(data, "source", where),
            database=req_str(data, "database", where),
            window_s=req_float(data, "window_s", where),
            db_time_ms=req_float(data, "db_time_ms", where),
            statements=tuple(
                StatementStat.from_dict(s, where) for s in object_list(data, "statements", where)
            ),
            plans=tuple(Plan.from_dict(p, where) for p in object_list(data, "plans", where)),
            recommendations=tuple(
                Recommendation.from_dict(r, where)
                for r in object_list(data, "recommendations", where)
            ),
            note=opt_str(data, "note", where),
        )


@dataclass(frozen=True)
class Profile:
    """profile.json: every source profiled during the run."""

    sources: tuple[ProfileSource, ...]
    version: int = PROFILE_VERSION

    def to_dict(self) -> dict[str, object]:
        """The file's JSON object (derived figures included, for readers outside Python)."""
        sources = []
        for source in self.sources:
            data = asdict(source)
            for stat, out in zip(source.statements, data["statements"], strict=True):
                out["mean_ms"] = stat.mean_ms
            for rec, out in zip(source.recommendations, data["recommendations"], strict=True):
                out["speedup"] = rec.speedup
                out["write_cost_us"] = rec.write_cost_us
            sources.append(data)
        return {"version": self.version, "sources": sources}

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = PROFILE) -> Profile:
        """The typed profile of a decoded profile.json; RecordError for another version."""
        version = req_int(data, "version", where)
        if version != PROFILE_VERSION:
            raise RecordError(f"expected version {PROFILE_VERSION}, got {version}", where)
        sources = object_list(data, "sources", where)
        return cls(sources=tuple(ProfileSource.from_dict(s, where) for s in sources))


def write_profile(run_dir: Path, profile: Profile) -> Path:
    """Write `profile` to the run directory (atomically); its path."""
    path = Path(run_dir) / PROFILE
    write_json_atomic(path, profile.to_dict())
    return path


def read_profile(run_dir: Path) -> Profile | None:
    """The run's profile.json, or None when the run has none."""
    path = Path(run_dir) / PROFILE
    if not path.is_file():
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        raise RecordError("expected a JSON object", str(path))
    return Profile.from_dict(data, str(path))
