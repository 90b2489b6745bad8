"""The console's progress line, printed by the master every `PROGRESS_EVERY_S` of a run.

Time against plan, stage, users, the live request rate and P95, the errors so far and the
connected workers, from the master's merged data (about 1-3 s behind the requests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the session imports Locust; this module does not
    from harness.load.master import MasterSession

PROGRESS_EVERY_S = 2.0


def progress_line(
    session: MasterSession, stage_name: str, elapsed_s: float, planned_s: float
) -> str:
    """One line: where the run stands `elapsed_s` into its `planned_s`."""
    live = session.aggregator.live()
    agg = session.aggregator
    share = agg.failures / agg.requests if agg.requests else 0.0
    return (
        f"{elapsed_s:6.1f}s/{planned_s:.0f}s  {stage_name:<10} "
        f"users {session.runner.user_count:4d}  req/s {live.rate_per_s:7.1f}  "
        f"errors {agg.failures} ({share:.2%})  p95 {live.p95_ms:7.1f} ms  "
        f"workers {session.live_workers}"
    )
