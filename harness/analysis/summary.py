"""summary.json: a run directory's figures, thresholds and verdict (docs/run-directory.md).

`summarize` measures the run once (harness.analysis.measure), evaluates the thresholds from
run.json, a thresholds file and extra expressions, compares with a baseline when given
one, and returns the typed `Summary`; `write_summary` also writes summary.json.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.baseline import SummaryObserver, compare
from harness.analysis.measure import (
    LATENCY_KEYS,
    PERCENTILES,
    Measurements,
    ScopeData,
    measure,
    observe_scope,
)
from harness.analysis.thresholds import (
    Observer,
    Threshold,
    ThresholdResult,
    ensure_baseline,
    evaluate,
    load_thresholds_file,
    parse_thresholds,
    unique,
)
from harness.errors import ConfigError
from harness.rundir import (
    SCHEMA_VERSION,
    Manifest,
    RunDir,
    Summary,
    read_manifest,
    write_summary_file,
)
from harness.rundir.thresholds import as_thresholds

__all__ = [
    "LATENCY_KEYS",
    "PERCENTILES",
    "Baseline",
    "Measurements",
    "ScopeData",
    "build_summary",
    "collect_thresholds",
    "load_baseline",
    "measure",
    "observe_scope",
    "summarize",
    "verdict",
    "write_summary",
]


def collect_thresholds(
    manifest: Manifest,
    extra_thresholds: Sequence[Threshold] = (),
    thresholds_file: Path | None = None,
) -> list[Threshold]:
    """Thresholds in force: run.json's, then the file's, then the extra ones (deduplicated)."""
    found = parse_thresholds(manifest.thresholds, "run.json")
    if thresholds_file is not None:
        found += load_thresholds_file(thresholds_file)
    found += extra_thresholds
    return unique(found)


def verdict(status: str, results: Sequence[ThresholdResult], allow_incomplete: bool = False) -> str:
    """`error` when the run itself failed; `incomplete` when it was interrupted or never
    finished (unless `allow_incomplete`: then judged on what it recorded); else `pass` if
    every threshold held, else `fail`. An incomplete run never passes by default: a CI job
    killed by its own timeout must not read green. A run an abort rule stopped is
    `aborted`, whatever the thresholds say over the data it recorded."""
    if status == "failed":
        return "error"
    if status == "aborted":
        return "aborted"
    if status != "completed" and not allow_incomplete:
        return "incomplete"
    return "pass" if all(r.ok for r in results) else "fail"


def build_summary(
    run: Measurements, results: Sequence[ThresholdResult], allow_incomplete: bool = False
) -> dict[str, Any]:
    """The summary.json document of measured data and evaluated thresholds."""
    manifest = run.manifest
    summary: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "run_id": manifest.run_id or run.run_dir.name,
        "profile": manifest.profile,
        "scenario": manifest.scenario,
        "status": run.status,
        "complete": run.complete,
        "started_at": manifest.started_at,
        "ended_at": manifest.ended_at,
        "duration_s": run.duration_s,
        "totals": run.totals.metrics(run.duration_s),
        "endpoints": {n: s.metrics(run.duration_s) for n, s in run.endpoints.items()},
        "workers": {"count": run.workers_count, "lost": run.workers_lost},
        "recovery": run.recovery,
        "thresholds": [r.as_dict() for r in results],
        "verdict": verdict(run.status, results, allow_incomplete),
        "error": manifest.error,
    }
    if run.abort is not None:
        summary["abort"] = run.abort
    if run.generator is not None:
        summary["generator"] = run.generator
    if run.extreme is not None:
        summary["extreme"] = run.extreme
    return summary


@dataclass(frozen=True)
class Baseline:
    """A baseline run: what relative thresholds observe, and its summary for `compare`."""

    observer: Observer
    summary: dict[str, Any]


def load_baseline(run_dir: Path) -> Baseline:
    """Measure a baseline run directory; one holding only summary.json is read from it."""
    paths = RunDir(Path(run_dir))
    where = f"baseline {paths.path}"
    if not paths.path.is_dir() or not paths.exists():
        raise ConfigError("not a run directory (no run.json)", where)
    if paths.intervals.is_file():
        run = measure(paths.path)
        return Baseline(run, build_summary(run, []))
    if paths.summary.is_file():
        try:
            stored = json.loads(paths.summary.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"unreadable summary.json: {exc}", where) from None
        if not isinstance(stored, dict):
            raise ConfigError("summary.json is not a JSON object", where)
        typed = Summary.from_dict(stored, str(paths.summary))
        return Baseline(SummaryObserver(typed), stored)
    raise ConfigError("has neither intervals.jsonl nor summary.json", where)


def summarize(
    run_dir: Path,
    extra_thresholds: Iterable[Threshold | str] = (),
    *,
    thresholds_file: Path | None = None,
    baseline_dir: Path | None = None,
    allow_incomplete: bool = False,
) -> Summary:
    """The typed summary of a run directory (not written; see write_summary).

    Thresholds come from run.json, then `thresholds_file`, then `extra_thresholds`; all
    are parsed (and a relative one checked for a baseline) before the data is read.
    """
    manifest = read_manifest(Path(run_dir))
    extra = as_thresholds(extra_thresholds, "--threshold")
    thresholds = collect_thresholds(manifest, extra, thresholds_file)
    ensure_baseline(thresholds, baseline_dir is not None)
    base = load_baseline(baseline_dir) if baseline_dir is not None else None
    run = measure(Path(run_dir))
    results = evaluate(thresholds, run, None if base is None else base.observer)
    document = build_summary(run, results, allow_incomplete)
    if base is not None:
        document["baseline"] = compare(document, base.summary)
    return Summary.from_dict(document, str(RunDir(Path(run_dir)).summary))


def write_summary(
    run_dir: Path,
    extra_thresholds: Iterable[Threshold | str] = (),
    *,
    thresholds_file: Path | None = None,
    baseline_dir: Path | None = None,
    allow_incomplete: bool = False,
) -> Summary:
    """Compute summary.json, write it atomically into the run directory, and return it."""
    summary = summarize(
        run_dir,
        extra_thresholds,
        thresholds_file=thresholds_file,
        baseline_dir=baseline_dir,
        allow_incomplete=allow_incomplete,
    )
    write_summary_file(Path(run_dir), summary)
    return summary
