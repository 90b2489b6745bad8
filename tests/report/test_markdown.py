"""The Markdown summary for pull-request comments."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from harness.analysis.summary import summarize
from harness.report.markdown import render_markdown
from harness.rundir import Recovery
from harness.testing import make_run_dir


def test_verdict_thresholds_and_figures(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", duration_s=5, names=("GET /a|b", "POST /c"))
    summary = summarize(run.path, ["p(95)<1ms", "GET /a|b: error_rate<1%"])
    text = render_markdown(summary)
    assert text.startswith("### ❌ FAIL — r · profile `moderate`")
    assert "**Thresholds:** 1 of 2 held" in text
    assert "| ❌ | `p(95)<1ms` | observed " in text
    assert "| ✅ | `GET /a\\|b: error_rate<1%` | observed 0% < limit 1% |" in text
    assert "| **All** | " in text and "| GET /a\\|b | " in text
    threshold_rows = [line for line in text.splitlines() if line.startswith(("| ✅", "| ❌"))]
    assert [len(re.findall(r"(?<!\\)\|", line)) for line in threshold_rows] == [4, 4]


def test_baseline_recovery_and_incomplete_runs(tmp_path: Path) -> None:
    base = summarize(make_run_dir(tmp_path / "base", duration_s=5, seed=1).path)
    slow_run = make_run_dir(
        tmp_path / "slow", duration_s=5, seed=2, latency_ms=(40.0, 0.5), complete=False
    )
    summary = summarize(slow_run.path)
    recovery = Recovery.from_dict({"rto_s": None, "rpo_s": 0.0, "lost_writes": 0})
    summary = dataclasses.replace(summary, recovery=recovery)
    text = render_markdown(summary, base)
    assert text.startswith("### ⏹️ INCOMPLETE")  # an unfinished run never reads PASS
    assert "_No thresholds were set._" in text
    assert "did not finish" in text
    assert "**Recovery:** RTO: **not measured** · RPO: **0.00 s** · Lost writes: **0**" in text
    assert "**Against baseline `base`**" in text and "regression(s)" in text
    assert "| p95 | " in text and "⚠️" in text
