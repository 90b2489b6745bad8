"""A run directory read once into measurements: histograms, counts, workers, recovery.

`measure(run_dir)` reads the directory once: every histogram blob is decoded once and added
in place into one numpy counts array per request name (totals are the sum of those), and
the per-line counts are summed with pandas. `Measurements` observes a threshold's metric
(harness.analysis.thresholds.Observer); `harness.analysis.summary` turns it into summary.json.

Percentiles are exact to the histograms' 3 significant digits: each is the highest value
equivalent to the bucket holding the sample of rank round-half-up(p/100 * n), which is
HdrHistogram's `get_value_at_percentile` (docs/thresholds.md compares it with numpy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.baseline import STAT_KEYS, observe_recovery
from harness.analysis.generator import generator_report
from harness.analysis.thresholds import RECOVERY_FIELDS, Threshold
from harness.analysis.windows import rolling_windows
from harness.errors import ConfigError
from harness.rundir import Manifest, RunDir, RunKind, iter_jsonl, read_manifest
from harness.rundir.hdr import (
    HistogramSums,
    new_counts,
    percentiles_from_counts,
    stats_us,
)
from harness.rundir.intervals import ARRIVALS_NAME
from harness.rundir.thresholds import OPERATORS, fmt_number

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
)
LATENCY_KEYS = ("p50", "p95", "p99", "p99.9", "max", "mean", "min")
_COUNT_FIELDS = (
    "requests", "failures", "bytes", "clipped", "iterations", "dropped_iterations", "grown_users"
)  # fmt: skip


@dataclass
class ScopeData:
    """Everything measured for one request name (or the totals): exact histograms and counts.

    `ok_counts` holds the successes' histogram (bucket counts, microseconds);
    `corrected_counts` the coordinated-omission-corrected one, or None when not paced.
    """

    ok_counts: np.ndarray = field(default_factory=new_counts)
    corrected_counts: np.ndarray | None = None
    requests: int = 0
    failures: int = 0
    bytes: int = 0
    clipped: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    iterations: int = 0
    dropped_iterations: int = 0
    grown_users: int = 0

    def latency_ms(self, corrected: bool = False) -> dict[str, float | None] | None:
        """p50..p99.9, max, mean, min in milliseconds; values None when nothing succeeded;
        None for corrected latency when the load was not paced."""
        counts = self.corrected_counts if corrected else self.ok_counts
        if counts is None:
            return None
        low_us, high_us, mean_us, total = stats_us(counts)
        if total == 0:
            return dict.fromkeys(LATENCY_KEYS)
        values = percentiles_from_counts(counts, tuple(p for _k, p in PERCENTILES))
        out: dict[str, float | None] = {
            k: v / 1000 for (k, _p), v in zip(PERCENTILES, values, strict=True)
        }
        out.update(max=high_us / 1000, mean=round(mean_us) / 1000, min=low_us / 1000)
        return out

    def percentile_ms(self, pct: float, corrected: bool = False) -> float | None:
        """Any percentile, in ms; None when there is no such histogram or it is empty."""
        counts = self.corrected_counts if corrected else self.ok_counts
        if counts is None or not counts.any():
            return None
        return percentiles_from_counts(counts, (pct,))[0] / 1000

    def metrics(self, duration_s: float) -> dict[str, Any]:
        """The METRICS object of summary.json."""
        return {
            "requests": self.requests,
            "failures": self.failures,
            "rps": self.requests / duration_s if duration_s > 0 else 0.0,
            "error_rate": self.failures / self.requests if self.requests else 0.0,
            "bytes": self.bytes,
            "latency_ms": self.latency_ms(),
            "latency_corrected_ms": self.latency_ms(corrected=True),
            "errors": dict(sorted(self.errors.items(), key=lambda kv: (-kv[1], kv[0]))),
            "clipped": self.clipped,
        } | self._arrivals()

    def _arrivals(self) -> dict[str, Any]:
        """Arrival-rate starts, only when the run had an arrival-rate stage."""
        if self.dropped_share is None:
            return {}
        return {
            "iterations": self.iterations,
            "dropped_iterations": self.dropped_iterations,
            "dropped": self.dropped_share,
            "grown_users": self.grown_users,
        }

    @property
    def dropped_share(self) -> float | None:
        """Arrival-rate starts dropped / starts due; None without an arrival-rate stage."""
        due = self.iterations + self.dropped_iterations
        return self.dropped_iterations / due if due else None


@dataclass
class Measurements:
    """A run directory, read once: manifest, per-name and total data, workers, recovery."""

    run_dir: Path
    manifest: Manifest
    duration_s: float
    totals: ScopeData
    endpoints: dict[str, ScopeData]
    workers_count: int
    workers_lost: int
    recovery: dict[str, Any] | None
    window_notes: dict[str, str] = field(default_factory=dict)
    """Which window was the worst, per windowed threshold expression (for its message)."""
    abort: dict[str, Any] | None = None
    """summary.json's `abort`, from the `run_aborted` event (None: not aborted)."""
    generator: dict[str, Any] | None = None
    """summary.json's `generator` (None without cpu.jsonl)."""
    extreme: dict[str, Any] | None = None
    """summary.json's `extreme`, from the `extreme_end` event."""

    @property
    def status(self) -> str:
        """run.json's status (`running` when absent)."""
        return self.manifest.status.value

    @property
    def complete(self) -> bool:
        """True once run.json was finalised: a status other than running and an end time."""
        return self.manifest.complete

    def observe(self, threshold: Threshold) -> float | str:
        """A threshold's metric in its family's base unit, or why it is not measured."""
        if threshold.window_s is not None:
            return self._observe_window(threshold)
        if threshold.name in RECOVERY_FIELDS:
            return observe_recovery(self.recovery, threshold.name)
        scope = self.totals if threshold.scope is None else self.endpoints.get(threshold.scope)
        if scope is None:
            return f"no requests named {threshold.scope!r} in this run"
        return observe_scope(scope, self.duration_s, threshold)

    def _observe_window(self, t: Threshold) -> float | str:
        """The worst rolling window's percentile (ms), or the one at the threshold's share
        of windows; which windows and where the worst starts go to `window_notes`."""
        assert t.window_s is not None and t.arg is not None
        if t.scope is not None and t.scope not in self.endpoints:
            return f"no requests named {t.scope!r} in this run"
        higher_is_worse = t.op in ("<", "<=")
        windows = rolling_windows(
            RunDir(self.run_dir).intervals, t.scope, t.arg, t.window_s, corrected=t.name == "cp"
        )
        if windows is None:
            return f"{t.metric} not measured (no successful requests)"
        worst = windows.worst(higher_is_worse)
        since = worst.start_t - (self.manifest.started_at or worst.start_t)
        if t.window_share is None:
            self.window_notes[t.expr] = (
                f" (worst of {worst.windows} windows of {worst.window_s} s: the one from "
                f"+{since:.0f} s)"
            )
            return worst.value_ms
        limit_ms = t.to_base(t.limit)
        meeting = sum(OPERATORS[t.op](v, limit_ms) for v in windows.values_ms)
        self.window_notes[t.expr] = (
            f" (the window at {fmt_number(t.window_share * 100)}%: {meeting} of "
            f"{worst.windows} windows of {worst.window_s} s meet the limit; the worst, from "
            f"+{since:.0f} s, {fmt_number(worst.value_ms)} ms)"
        )
        return windows.at_share(t.window_share, higher_is_worse)


def observe_scope(scope: ScopeData, duration_s: float, t: Threshold) -> float | str:
    """A request metric of one scope: latency in ms, rps, error_rate fraction, counts."""
    if t.name == "dropped":
        share = scope.dropped_share
        return "dropped not measured (no arrival-rate start was due)" if share is None else share
    if t.name in ("rps", "requests", "failures", "error_rate"):
        metrics = (
            scope.metrics(duration_s) if t.name != "requests" else {"requests": scope.requests}
        )
        if t.name == "error_rate" and scope.requests == 0:
            return "error_rate not measured (no requests)"
        return float(metrics[t.name])
    corrected = t.name.startswith("c")
    if corrected and scope.corrected_counts is None:
        return f"{t.metric} not measured (the load was not paced)"
    stat = t.name[1:] if corrected else t.name
    if stat == "p" and t.arg is not None:
        value = scope.percentile_ms(t.arg, corrected)
    else:
        latency = scope.latency_ms(corrected) or {}
        value = latency.get(STAT_KEYS[stat])
    if value is None:
        return f"{t.metric} not measured (no successful requests)"
    return float(value)


def measure(run_dir: Path) -> Measurements:
    """Read a run directory once (ConfigError when it is not one)."""
    paths = RunDir(Path(run_dir))
    manifest = read_manifest(paths.path)
    endpoints, frame = _read_intervals(paths.intervals)
    totals = ScopeData()
    for name, scope in endpoints.items():
        row = frame.loc[name] if name in frame.index else None
        if row is not None:
            for col in _COUNT_FIELDS:
                setattr(scope, col, int(row[col]))
                setattr(totals, col, getattr(totals, col) + int(row[col]))
        totals.ok_counts += scope.ok_counts
        if scope.corrected_counts is not None:
            if totals.corrected_counts is None:
                totals.corrected_counts = new_counts()
            totals.corrected_counts += scope.corrected_counts
        for kind, count in scope.errors.items():
            totals.errors[kind] = totals.errors.get(kind, 0) + count
    joined, lost = _workers(paths.events)
    return Measurements(
        run_dir=paths.path,
        manifest=manifest,
        duration_s=_duration_s(frame.attrs, manifest),
        totals=totals,
        endpoints=dict(sorted((n, s) for n, s in endpoints.items() if n != ARRIVALS_NAME)),
        workers_count=joined or manifest.workers_expected,
        workers_lost=lost,
        recovery=_recovery(paths.path, manifest),
        abort=_abort(paths.events),
        generator=generator_report(paths.cpu, paths.events),
        extreme=_extreme(paths.events),
    )


def _read_intervals(path: Path) -> tuple[dict[str, ScopeData], pd.DataFrame]:
    """Sum every line's histograms per name (each blob decoded once); counts with pandas."""
    sums = HistogramSums()
    slots: dict[str, list[int | None]] = {}  # name -> [ok slot, corrected slot]
    errors: dict[str, dict[str, int]] = {}
    columns: dict[str, list[Any]] = {c: [] for c in ("name", "t", "dt_s", *_COUNT_FIELDS)}
    for line in iter_jsonl(path):
        name = str(line.get("name", ""))
        if name not in slots:
            slots[name] = [sums.new_slot(), None]
            errors[name] = {}
        try:
            if line.get("hdr"):
                sums.add(slots[name][0] or 0, line["hdr"])
            if line.get("hdr_corrected"):
                if slots[name][1] is None:
                    slots[name][1] = sums.new_slot()
                sums.add(slots[name][1] or 0, line["hdr_corrected"])
        except ValueError as exc:
            raise ConfigError(f"{exc} for {name!r} at t={line.get('t')}", str(path)) from None
        for kind, count in (line.get("errors") or {}).items():
            errors[name][kind] = errors[name].get(kind, 0) + int(count)
        columns["name"].append(name)
        columns["t"].append(float(line.get("t", 0.0)))
        columns["dt_s"].append(float(line.get("dt_s", 1.0)))
        for col in _COUNT_FIELDS:
            columns[col].append(int(line.get(col) or 0))
    try:
        sums.flush()
    except ValueError as exc:
        raise ConfigError(str(exc), str(path)) from None
    scopes = {
        name: ScopeData(
            ok_counts=sums.counts(ok_slot or 0),
            corrected_counts=None if corr_slot is None else sums.counts(corr_slot),
            errors=errors[name],
        )
        for name, (ok_slot, corr_slot) in slots.items()
    }
    frame = pd.DataFrame(columns)
    totals = frame.groupby("name")[list(_COUNT_FIELDS)].sum()
    if len(frame):
        totals.attrs["span"] = (frame["t"].min(), (frame["t"] + frame["dt_s"]).max())
    return scopes, totals


def _duration_s(attrs: dict[str, Any], manifest: Manifest) -> float:
    """The span the intervals cover; else ended_at - started_at; else 0."""
    if "span" in attrs:
        first, last = attrs["span"]
        return float(last - first)
    started, ended = manifest.started_at, manifest.ended_at
    if started is not None and ended is not None:
        return max(float(ended - started), 0.0)
    return 0.0


def _workers(path: Path) -> tuple[int, int]:
    joined: set[str] = set()
    lost: set[str] = set()
    for event in iter_jsonl(path):
        if event.get("kind") == "worker_joined":
            joined.add(str(event.get("worker")))
        elif event.get("kind") == "worker_lost":
            lost.add(str(event.get("worker")))
    return len(joined), len(lost)


def _extreme(path: Path) -> dict[str, Any] | None:
    """The `extreme_end` event as summary.json's `extreme` object."""
    for event in iter_jsonl(path):
        if event.get("kind") == "extreme_end":
            return {
                "limit": str(event.get("limit")),
                "highest_held_rate_per_s": float(event.get("highest_held_rate_per_s") or 0.0),
                "steps_judged": int(event.get("steps_judged") or 0),
            }
    return None


def _abort(path: Path) -> dict[str, Any] | None:
    """The first `run_aborted` event as summary.json's `abort` object."""
    for event in iter_jsonl(path):
        if event.get("kind") == "run_aborted":
            observed = event.get("observed")
            return {
                "threshold": str(event.get("threshold") or ""),
                "source": str(event.get("source") or ""),
                "message": str(event.get("message") or ""),
                "t": float(event["t"]),
                "observed": float(observed) if isinstance(observed, int | float) else None,
            }
    return None


def _recovery(run_dir: Path, manifest: Manifest) -> dict[str, Any] | None:
    """The recovery figures of a scenario run (None for a plain load run)."""
    if manifest.kind is not RunKind.SCENARIO:
        return None
    from harness.analysis.recovery import compute_recovery  # scenarios only: loads more

    return dict(compute_recovery(run_dir))
