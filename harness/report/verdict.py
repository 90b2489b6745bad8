"""The verdict banner: PASS, FAIL, ABORTED, INCOMPLETE or ERROR, why, and what failed.

It reads run.json's status and summary.json's verdict and thresholds, and adds the notes
shown under the banner (a saturated load generator, why an Extreme run stopped). The
report (html.py) and the suite's index (suite.py) show the same banner.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.report.formatting import fmt_change, fmt_value
from harness.rundir import Manifest, RunStatus, Summary, ThresholdRow


@dataclass(frozen=True)
class Verdict:
    """The banner: state (`pass`, `fail`, `error`, `incomplete`), headline and what failed."""

    state: str
    headline: str
    subtitle: str
    failed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def run_is_incomplete(run: Manifest) -> bool:
    """A run still `running`, `interrupted`, or without an end time."""
    return run.status in (RunStatus.RUNNING, RunStatus.INTERRUPTED) or run.ended_at is None


def build_verdict(run: Manifest, summary: Summary) -> Verdict:
    """The verdict banner, from run.json's status and summary.json's verdict."""
    failed = tuple(_failed_line(t) for t in summary.failed_thresholds)
    verdict = summary.verdict.value
    judged = {"pass": "all thresholds and objectives met", "fail": f"{len(failed)} failed"}
    if run.status is RunStatus.FAILED or verdict == "error":
        reason = run.error or summary.error or "the run could not be judged"
        return Verdict("error", "ERROR", reason, failed)
    if run_is_incomplete(run) or verdict == "incomplete":
        why = _unfinished_reason(run.status)
        so_far = verdict if verdict in judged else ("fail" if failed else "pass")
        return Verdict(
            "incomplete",
            "INCOMPLETE",
            f"{why} On the data so far: {so_far.upper()} ({judged[so_far]}). "
            "An incomplete run never passes.",
            failed,
        )
    if verdict == "aborted":
        return _aborted_verdict(summary, failed)
    count = len(summary.thresholds)
    if verdict == "pass":
        return Verdict("pass", "PASS", f"All {count} thresholds and objectives met.")
    return Verdict(
        "fail", "FAIL", f"{len(failed)} of {count} thresholds or objectives failed.", failed
    )


def _aborted_verdict(summary: Summary, failed: tuple[str, ...]) -> Verdict:
    """ABORTED: an abort rule failed while the run went, and the run stopped itself."""
    abort = summary.abort
    if abort is None:
        why = "The run stopped itself on an abort rule (no run_aborted event recorded)."
    else:
        since = abort.t - summary.started_at if summary.started_at is not None else None
        at = f" at +{since:.0f} s" if since is not None else ""
        why = (
            f"Stopped{at} by {abort.threshold} ({abort.source}): {abort.message}. "
            "Load stopped and the fault rolled back; the figures cover the run until then."
        )
    return Verdict("fail", "ABORTED", why, failed)


def _unfinished_reason(status: RunStatus) -> str:
    if status is RunStatus.RUNNING:
        return "The run has not finished: run.json still says running (it may have crashed)."
    if status is RunStatus.INTERRUPTED:
        return "The run was interrupted before its planned end."
    return "The run has no end time."


def _failed_line(threshold: ThresholdRow) -> str:
    observed, limit, unit = threshold.observed, threshold.limit, threshold.unit
    scope = threshold.scope
    where = f" on {scope}" if scope and scope not in ("global", "total", "*") else ""
    if observed is None:
        message = threshold.message or "no data to judge"
        return f"{threshold.expr}{where}: {message}"
    change = fmt_change(observed, limit)
    change = f" ({change})" if change else ""
    return (
        f"{threshold.expr}{where}: observed {fmt_value(observed, unit)}, "
        f"limit {threshold.op} {fmt_value(limit, unit)}{change}"
    )


_LIMIT_WORDS = {
    "target": "the target broke its objectives",
    "generator": "the load generator was saturated, not the target: the target's limit is higher",
    "time_cap": "the time cap (every step held: the limit is higher still)",
}


def generator_notes(summary: Summary) -> list[str]:
    """Warnings about the load generator, and why Extreme stopped (shown under the verdict)."""
    notes: list[str] = []
    health = summary.generator
    if health is not None and health.saturated:
        peak = health.peak_worker_busy_pct or 0.0
        notes.append(
            f"GENERATOR SATURATED: a load worker was busy at least 90% of a second "
            f"({health.saturated_events} time(s), peak {peak:.0f}% on a CPU or waiting for one). "
            "While it was, rates and latencies measure the generator, not the target: add "
            "workers or machines (cpu.jsonl has every second)."
        )
    extreme = summary.extreme
    if extreme is not None:
        words = _LIMIT_WORDS.get(extreme.limit, extreme.limit)
        notes.append(
            f"Extreme stopped after {extreme.steps_judged} steps: {words}. Highest rate that "
            f"held: {extreme.highest_held_rate_per_s:,.1f} req/s."
        )
    return notes
