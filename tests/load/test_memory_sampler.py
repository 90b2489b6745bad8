"""RSS sampling of real processes: a child that allocates steadily is flagged, a flat one not."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from harness.analysis.memory import GrowthCriterion, process_memory
from harness.load.memory_sampler import MemorySampler, own_memory

# Allocates 2 MB every 50 ms (touching every page so it is resident) for as long as it runs.
GROWING = """
import sys, time
held = []
print("ready", flush=True)
while len(held) < 200:
    held.append(bytearray(b"x" * 2_000_000))
    time.sleep(0.05)
time.sleep(60)
"""
FLAT = """
import sys, time
held = bytearray(b"x" * 20_000_000)
print("ready", flush=True)
time.sleep(60)
"""


def _start(code: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_growing_child_is_flagged_and_a_flat_one_is_not() -> None:
    growing, flat = _start(GROWING), _start(FLAT)
    try:
        sampler = MemorySampler()
        sampler.track("grower", "service", growing.pid)
        sampler.track("flat", "worker", flat.pid)
        sampler.track("self", "master", os.getpid(), tree=True)
        samples = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # sample as a run does, just faster
            samples += sampler.sample()
            time.sleep(0.1)
    finally:
        for proc in (growing, flat):
            proc.kill()
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
    found = {
        p.process.split()[0]: p for p in process_memory(samples, GrowthCriterion(min_span_s=2))
    }
    assert {"grower", "flat", "self"} <= set(found)
    assert found["grower"].growing and found["grower"].slope_mb_per_h is not None
    assert found["grower"].slope_mb_per_h > 10_000  # ~40 MB/s when the machine keeps up
    assert not found["flat"].growing and found["flat"].peak_mb > 20
    # the test process's tree includes both children, labelled as its children
    assert any(s.process == f"self child {growing.pid}" for s in samples)
    assert sampler.sample() and all(s.pid != growing.pid for s in sampler.sample())


def test_own_memory_is_this_process() -> None:
    mine = own_memory()
    assert mine["pid"] == os.getpid() and mine["rss_bytes"] > 1_000_000


def test_a_source_names_processes_at_each_sample() -> None:
    first, second = _start(FLAT), _start(FLAT)
    current = {"a-0": first.pid}
    try:
        sampler = MemorySampler()
        sampler.track_source("service", lambda: dict(current))
        before = sampler.sample()
        current["a-0"] = second.pid  # restarted under the same name
        after = sampler.sample()
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
    assert [(s.process, s.role) for s in before] == [(f"a-0 {first.pid}", "service")]
    assert [s.process for s in after] == [f"a-0 {second.pid}"]
