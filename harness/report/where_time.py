"""The report's "Where the time goes" section: memory, cache and statement profiles.

`build_where_time(run_dir)` gathers what the run directory holds about where a run spent its
resources. Each part is None when its file is absent, and the template says so in words:

- `memory`: RSS per process over time (memory.jsonl), growth per hour and a warning;
- `cache`: per CDN tier and per route hit ratios, miss cost and a TTL replay (cache.jsonl);
- `statements`: top database statements and verified index recommendations (profile.json),
  rendered by `templates/_where_statements.html.j2` when present.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.report.cache_part import CacheView, build_cache
from harness.report.memory_part import MemoryView, build_memory
from harness.report.statements_part import StatementsView, build_statements


@dataclass(frozen=True)
class WhereTime:
    """The section's parts, each preformatted for the template, or None when not recorded."""

    memory: MemoryView | None = None
    cache: CacheView | None = None
    statements: StatementsView | None = None

    @property
    def empty(self) -> bool:
        """True when the run recorded none of the parts."""
        return self.memory is None and self.cache is None and self.statements is None


def build_where_time(run_dir: Path, t0: float) -> WhereTime:
    """Everything the section shows for `run_dir` (parts absent from the run are None);
    times on charts are seconds since `t0`, the run's start."""
    return WhereTime(
        memory=build_memory(run_dir, t0),
        cache=build_cache(run_dir),
        statements=build_statements(run_dir),
    )
