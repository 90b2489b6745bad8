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
from harness.report.sections import Json, Verdict, build_verdict, number
from harness.rundir import RunDir

INDEX = "index.html"
_SEVERITY = {"error": 3, "fail": 2, "incomplete": 1, "pass": 0}


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
        return _make_row(run_dir.name, run_dir.name, verdict, {}, None)
    report = RunDir(run_dir).report
    href: str | None = None
    try:
        if not report.is_file():
            write_report(run_dir)
        href = Path(os.path.relpath(report, suite_dir)).as_posix()
    except (HarnessError, OSError, ValueError):
        href = None
    run, summary = inputs.run, inputs.summary
    name = str(run.get("scenario") or run.get("profile") or run.get("run_id") or run_dir.name)
    verdict = build_verdict(run, summary)
    return _make_row(name, str(run.get("run_id") or run_dir.name), verdict, summary, href)


def _make_row(
    name: str, run_id: str, verdict: Verdict, summary: Json, href: str | None
) -> SuiteRow:
    totals: Json = summary.get("totals") or {}
    recovery: Json = summary.get("recovery") or {}
    rto_s = number(recovery.get("rto_s"))
    rpo_s = number(recovery.get("rpo_s"))
    lost = recovery.get("lost_writes")
    if recovery:
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
        duration=fmt_seconds(number(summary.get("duration_s"))),
        requests=fmt_count(totals.get("requests")),
        p95=fmt_ms(number((totals.get("latency_ms") or {}).get("p95"))),
        error_rate=fmt_share(number(totals.get("error_rate"))),
        rto=rto,
        rpo=rpo,
        lost_writes=fmt_count(lost) if lost is not None else DASH,
        href=href,
    )
