"""`judge(run_dir, thresholds, baseline)`: the one path that ends every run.

`harness run`, `harness scenario`, each scenario of `harness suite`, and `harness gate` all
end here: the run directory is summarised against its thresholds (run.json's, a file's and
the caller's), compared with a baseline when given, and summary.json, report.html and
junit.xml are written (plus Markdown, when asked). It returns a `Judgement`; only the
command line turns its verdict into an exit code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.analysis.summary import write_summary
from harness.report.html import write_report
from harness.report.junit import write_junit
from harness.report.markdown import render_markdown
from harness.rundir import RunDir, Summary, ThresholdRow, Verdict
from harness.rundir.thresholds import Threshold


@dataclass(frozen=True)
class Judgement:
    """A judged run: its summary (as written) and the files written."""

    summary: Summary
    summary_path: Path
    report_path: Path | None
    junit_path: Path
    markdown_path: Path | None = None

    @property
    def verdict(self) -> Verdict:
        """pass, fail, incomplete (interrupted or unfinished) or error (the run failed)."""
        return self.summary.verdict

    @property
    def failed(self) -> list[ThresholdRow]:
        """The thresholds that did not hold."""
        return self.summary.failed_thresholds


def judge(
    run_dir: Path | str,
    thresholds: Iterable[Threshold | str] = (),
    baseline: Path | None = None,
    *,
    thresholds_file: Path | None = None,
    junit_path: Path | None = None,
    markdown_path: Path | None = None,
    allow_incomplete: bool = False,
    html: bool = True,
) -> Judgement:
    """Summarise, report and write the JUnit XML of `run_dir` (see the module docstring).

    ConfigError for bad input: not a run directory, a malformed threshold, a relative
    threshold without a baseline, a baseline that is not a run directory. `html=False`
    skips report.html (a gate that only needs the verdict and JUnit).
    """
    paths = RunDir(Path(run_dir))
    summary = write_summary(
        paths.path,
        thresholds,
        thresholds_file=thresholds_file,
        baseline_dir=baseline,
        allow_incomplete=allow_incomplete,
    )
    report_path = write_report(paths.path, baseline) if html else None
    junit = junit_path or paths.junit
    write_junit(summary, junit, summary.name)
    if markdown_path is not None:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(render_markdown(summary), encoding="utf-8")
    return Judgement(summary, paths.summary, report_path, junit, markdown_path)
