"""Shared counters and generations across real processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from harness.service.shared_state import SharedCounters, SharedGenerations

NAMES = ("a", "b")


def test_counters_sum_over_processes_including_exited(tmp_path: Path) -> None:
    mine = SharedCounters(tmp_path, NAMES)
    mine.add("a")
    mine.add("b")
    code = (
        "import sys; from pathlib import Path; "
        "from harness.service.shared_state import SharedCounters; "
        "c = SharedCounters(Path(sys.argv[1]), ('a', 'b')); "
        "[c.add('a') for _ in range(5)]"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=60)
    assert mine.local() == {"a": 1, "b": 1}
    assert mine.totals() == {"a": 6, "b": 1}
    assert mine.processes() == 2


def test_counts_from_threads_are_not_lost(tmp_path: Path) -> None:
    counters = SharedCounters(tmp_path, NAMES)
    slot = counters.index("a")

    def work() -> None:
        for _ in range(20_000):
            counters.add_at(slot)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert counters.totals()["a"] == 80_000


def test_a_reused_pid_keeps_the_earlier_counts(tmp_path: Path) -> None:
    first = SharedCounters(tmp_path, NAMES)
    first.add("a")
    second = SharedCounters(tmp_path, NAMES)  # same pid: the first file is kept aside
    second.add("a")
    assert second.totals()["a"] == 2 and second.local()["a"] == 1


def test_generation_bump_seen_by_another_process(tmp_path: Path) -> None:
    gens = SharedGenerations(tmp_path / "generation", 4)
    before = gens.get(2)
    code = (
        "import sys; from pathlib import Path; "
        "from harness.service.shared_state import SharedGenerations; "
        "g = SharedGenerations(Path(sys.argv[1]), 4); g.bump(2); g.bump(2)"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "generation")], check=True)
    after = gens.get(2)
    assert after != before and gens.get(1) == 0
    assert gens.bump(2) > after
