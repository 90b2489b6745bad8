"""Judge a run directory against thresholds: summary.json, JUnit XML, Markdown, a table.

`gate` is the library half of `harness gate`: it re-reads the run (finished or cut short),
evaluates thresholds from run.json, a file and the caller, compares with a baseline when
given, rewrites summary.json and writes the JUnit XML (and Markdown, if asked). It returns
the verdict; only the command turns it into an exit code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.summary import write_summary
from harness.rundir import RunDir


@dataclass(frozen=True)
class GateConfig:
    """What to judge and where to write: built once by the command line (or a caller)."""

    run_dir: Path
    thresholds: tuple[str, ...] = ()
    thresholds_file: Path | None = None
    baseline_dir: Path | None = None
    junit_path: Path | None = None  # default: RUN_DIR/junit.xml
    markdown_path: Path | None = None


@dataclass(frozen=True)
class GateResult:
    """The judged run: its summary (as written), the verdict, and the files written."""

    summary: dict[str, Any]
    junit_path: Path
    markdown_path: Path | None

    @property
    def verdict(self) -> str:
        """`pass`, `fail` or `error` (the run itself failed)."""
        return str(self.summary["verdict"])

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The thresholds that did not hold."""
        return [t for t in self.summary["thresholds"] if not t["ok"]]


def gate(
    run_dir: Path,
    thresholds: Sequence[str] = (),
    *,
    thresholds_file: Path | None = None,
    baseline: Path | None = None,
    junit_path: Path | None = None,
    markdown_path: Path | None = None,
) -> GateResult:
    """Judge `run_dir`; ConfigError for bad input (not a run dir, bad expression, no baseline)."""
    return run_gate(
        GateConfig(
            Path(run_dir), tuple(thresholds), thresholds_file, baseline, junit_path, markdown_path
        )
    )


def run_gate(config: GateConfig) -> GateResult:
    """`gate` from a GateConfig."""
    from harness.report.junit import suite_name_of, write_junit
    from harness.report.markdown import render_markdown

    summary = write_summary(
        config.run_dir,
        config.thresholds,
        thresholds_file=config.thresholds_file,
        baseline_dir=config.baseline_dir,
    )
    junit_path = config.junit_path or RunDir(config.run_dir).junit
    write_junit(summary, junit_path, suite_name_of(summary))
    if config.markdown_path is not None:
        config.markdown_path.parent.mkdir(parents=True, exist_ok=True)
        config.markdown_path.write_text(render_markdown(summary), encoding="utf-8")
    return GateResult(summary, junit_path, config.markdown_path)


def result_table(summary: Mapping[str, Any]) -> str:
    """A short plain-text table of the thresholds and the verdict, for a terminal."""
    thresholds: Sequence[Mapping[str, Any]] = summary.get("thresholds") or ()
    rows = [("", "threshold", "result")]
    rows += [
        ("ok" if t.get("ok") else "FAIL", str(t.get("expr")), str(t.get("message")))
        for t in thresholds
    ]
    width = max(len(r[1]) for r in rows)
    lines = [f"{mark:<4}  {expr:<{width}}  {message}".rstrip() for mark, expr, message in rows]
    if not thresholds:
        lines = ["no thresholds set"]
    totals = summary.get("totals") or {}
    latency = totals.get("latency_ms") or {}
    p95 = latency.get("p95")
    figures = (
        f"{totals.get('requests', 0)} requests, {totals.get('rps', 0.0):.1f} req/s, "
        f"{(totals.get('error_rate') or 0.0) * 100:.2f}% errors"
        + (f", p95 {p95:.1f} ms" if isinstance(p95, int | float) else "")
    )
    status = summary.get("status")
    complete = "" if summary.get("complete") else " (incomplete)"
    lines.append(
        f"verdict: {str(summary.get('verdict')).upper()} — run {status}{complete}; {figures}"
    )
    return "\n".join(lines)
