"""Resident set size of a run's processes, sampled once a second into memory.jsonl.

The master samples itself and each process of the reference service (the server and every
child it forks, found again at each sample so a restarted or late child is seen): the
embedded one of `harness run`, or a scenario deployment's services by name. Load
workers measure themselves (`own_memory`) and send the figure with their per-second
intervals, so a remote worker's memory arrives through the same sealed channel as its
latencies (docs/load.md, "Cluster secret"). No Locust import here.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.rundir.memory import MemorySample


def own_memory() -> dict[str, int]:
    """This process's `{"pid", "rss_bytes"}`: what a worker sends with its intervals."""
    return {"pid": os.getpid(), "rss_bytes": int(psutil.Process().memory_info().rss)}


@dataclass(frozen=True)
class Tracked:
    """A process to sample: its label and role; `tree` also samples its descendants."""

    label: str
    role: str
    pid: int
    tree: bool = False


class MemorySampler:
    """Samples the RSS of tracked processes; a process that has exited is skipped."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._tracked: list[Tracked] = []
        self._sources: list[tuple[str, Callable[[], Mapping[str, int]]]] = []
        self._handles: dict[int, psutil.Process] = {}

    def track(self, label: str, role: str, pid: int, tree: bool = False) -> None:
        """Sample `pid` (and, with `tree`, every process it has forked) from now on."""
        self._tracked.append(Tracked(label, role, pid, tree))

    def track_source(self, role: str, source: Callable[[], Mapping[str, int]]) -> None:
        """At each sample, also sample (as trees) the processes `source()` names then: a
        deployment whose services are killed and restarted during the run."""
        self._sources.append((role, source))

    def sample(self) -> list[MemorySample]:
        """One sample of every tracked process alive now."""
        now = self.clock()
        out: list[MemorySample] = []
        tracked_now = list(self._tracked)
        for role, source in self._sources:
            tracked_now += [Tracked(name, role, pid, tree=True) for name, pid in source().items()]
        for tracked in tracked_now:
            root = self._process(tracked.pid)
            if root is None:
                continue
            family = [root]
            if tracked.tree:
                # the root may exit meanwhile: then only its own sample is missing
                family += [p for pid in descendants(tracked.pid) if (p := self._process(pid))]
            for proc in family:
                rss = _rss(proc)
                if rss is None:
                    continue
                label = tracked.label if proc.pid == tracked.pid else f"{tracked.label} child"
                out.append(MemorySample(now, f"{label} {proc.pid}", tracked.role, proc.pid, rss))
        return out

    def _process(self, pid: int) -> psutil.Process | None:
        handle = self._handles.get(pid)
        if handle is None:
            try:
                handle = self._handles[pid] = psutil.Process(pid)
            except psutil.Error:
                return None
        if handle.is_running():
            return handle
        del self._handles[pid]  # exited: a reused pid gets a fresh handle
        return None


def descendants(pid: int) -> list[int]:
    """Pids of every process below `pid`. Linux lists a task's children in /proc (cheap);
    psutil's `children()` reads every process on the machine (~5 ms a sample here)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        if not Path("/proc/self/task").is_dir():  # not Linux: ask psutil
            with contextlib.suppress(psutil.Error):
                return [p.pid for p in psutil.Process(pid).children(recursive=True)]
            return []
        children = []
        for task in Path(f"/proc/{parent}/task").glob("*/children"):  # each thread's forks
            with contextlib.suppress(OSError):
                children += [int(c) for c in task.read_text().split()]
        found += children
        todo += children
    return found


def _rss(proc: psutil.Process) -> int | None:
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:
        return None
