"""The suite index: one page with a row per scenario, its verdict, key figures and report.

`write_suite_index(suite_dir, run_dirs)` reads each run directory's run.json and
summary.json (computing it when absent), renders each missing report.html, and writes
`suite_dir/index.html` atomically. Links are relative, so the suite folder can be moved or
archived as a whole.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.report.formatting import DASH, fmt_count, fmt_ms, fmt_seconds, fmt_share
from harness.report.html import environment, load_inputs, write_report
from harness.report.verdict import Verdict, build_verdict
from harness.rundir import Metrics, RunDir, Summary

INDEX = "index.html"
_SEVERITY = {"error": 3, "aborted": 2, "fail": 2, "incomplete": 1, "pass": 0}


@dataclass(frozen=True)
class SuiteRow:
    """One scenario of the suite, preformatted for the index."""

    name: str
    run_id: str
    state: str
    headline: str
    failed: tuple[str, ...]
    duration: str
    requests: str
    p95: str
    error_rate: str
    rto: str
    rpo: str
    lost_writes: str
    href: str | None


def write_suite_index(suite_dir: Path, run_dirs: Sequence[Path]) -> Path:
    """Write `suite_dir/index.html` with one row per run directory; return its path."""
    suite_dir = Path(suite_dir)
    suite_dir.mkdir(parents=True, exist_ok=True)
    rows = [_row(suite_dir, Path(run_dir)) for run_dir in run_dirs]
    worst = max((_SEVERITY[r.state] for r in rows), default=0)
    state = next(s for s, level in _SEVERITY.items() if level == worst) if rows else "error"
    passed = sum(1 for r in rows if r.state == "pass")
    html = (
        environment()
        .get_template("suite.html.j2")
        .render(
            title=suite_dir.name,
            generated_at=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            state=state,
            headline=state.upper(),
            subtitle=f"{passed} of {len(rows)} scenarios passed."
            if rows
            else "No runs in this suite.",
            rows=rows,
        )
    )
    target = suite_dir / INDEX
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target)
    return target


def _row(suite_dir: Path, run_dir: Path) -> SuiteRow:
    """A scenario's row; a folder that cannot be read becomes an ERROR row, not a crash."""
    try:
        inputs = load_inputs(run_dir)
    except (HarnessError, OSError, ValueError) as exc:
        verdict = Verdict("error", "ERROR", str(exc), (str(exc),))
        return _make_row(run_dir.name, run_dir.name, verdict, None, None)
    report = RunDir(run_dir).report
    href: str | None = None
    try:
        if not report.is_file():
            write_report(run_dir)
        href = Path(os.path.relpath(report, suite_dir)).as_posix()
    except (HarnessError, OSError, ValueError):
        href = None
    run, summary = inputs.run, inputs.summary
    name = run.scenario or run.profile or run.run_id or run_dir.name
    verdict = build_verdict(run, summary)
    return _make_row(name, run.run_id or run_dir.name, verdict, summary, href)


def _make_row(
    name: str, run_id: str, verdict: Verdict, summary: Summary | None, href: str | None
) -> SuiteRow:
    totals = summary.totals if summary is not None else Metrics()
    recovery = summary.recovery if summary is not None else None
    lost = recovery.lost_writes if recovery is not None else None
    if recovery is not None:
        rto_s, rpo_s = recovery.rto_s, recovery.rpo_s
        rto = fmt_seconds(rto_s) if rto_s is not None else "not recovered"
        rpo = fmt_seconds(rpo_s) if rpo_s is not None else ("0 s" if lost == 0 else DASH)
    else:
        rto = rpo = DASH
    return SuiteRow(
        name=name,
        run_id=run_id,
        state=verdict.state,
        headline=verdict.headline,
        failed=verdict.failed[:3],
        duration=fmt_seconds(summary.duration_s if summary is not None else None),
        requests=fmt_count(totals.requests if summary is not None else None),
        p95=fmt_ms(totals.latency_ms.p95),
        error_rate=fmt_share(totals.error_rate if summary is not None else None),
        rto=rto,
        rpo=rpo,
        lost_writes=fmt_count(lost) if lost is not None else DASH,
        href=href,
    )
