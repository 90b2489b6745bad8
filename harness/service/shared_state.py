"""Counters and generation numbers shared by the service's worker processes, lock-free.

Every worker process owns one small memory-mapped file of unsigned 64-bit counters
(`<dir>/<pid>.counters`) and is its only writer, so counting is a memory write with no lock
and no system call. Totals are the sum over every counter file in the directory, including
those of processes that have exited, so a crashed worker's counts are not lost; delete the
directory to start from zero.

`SharedGenerations` is one memory-mapped array of 64-bit generation numbers that any process
may bump (purges, writes). Readers compare a value with the one they saw before; a bump
writes a value different from every earlier one (the time in ns, or one more than the
current value), so there is no read-modify-write race to lose a bump.
"""

from __future__ import annotations

import itertools
import mmap
import os
import struct
import time
from pathlib import Path

_WORD = 8


def _map_file(path: Path, words: int) -> tuple[mmap.mmap, memoryview]:
    """Open (creating if needed) `path`, grow it to `words` 64-bit words and map it shared."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size < words * _WORD:
            os.ftruncate(fd, words * _WORD)
        mapped = mmap.mmap(fd, words * _WORD, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
    return mapped, memoryview(mapped).cast("Q")


class SharedCounters:
    """Named counters of this process in `<directory>/<pid>.counters`, summed over processes.

    Create it in the process that counts (after any fork): the file is named by the pid.
    """

    def __init__(self, directory: Path, names: tuple[str, ...]) -> None:
        self.directory = Path(directory)
        self.names = names
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pid = os.getpid()
        self.path = self.directory / f"{self.pid}.counters"
        if self.path.exists():
            # A file named by our pid belongs to an earlier process that had the same pid:
            # keep its counts under another name.
            os.replace(self.path, self.directory / f"exited-{self.pid}-{time.time_ns()}.counters")
        self._mmap, self._view = _map_file(self.path, len(names))
        self._index = {name: i for i, name in enumerate(names)}
        # next() on itertools.count is atomic under the GIL, so threads never lose a count.
        self._counts = [itertools.count(1) for _ in names]

    def index(self, name: str) -> int:
        """The slot of counter `name` (resolve once, then call `add_at` on the hot path)."""
        return self._index[name]

    def add_at(self, slot: int) -> None:
        """Count one at `slot`."""
        self._view[slot] = next(self._counts[slot])

    def add(self, name: str) -> None:
        """Count one for `name`."""
        self.add_at(self._index[name])

    def local(self) -> dict[str, int]:
        """This process's counts."""
        return dict(zip(self.names, self._view.tolist(), strict=True))

    def totals(self) -> dict[str, int]:
        """Counts summed over every process that has counted in this directory."""
        totals = dict.fromkeys(self.names, 0)
        width = len(self.names) * _WORD
        for path in self.directory.glob("*.counters"):
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue
            raw = raw[:width].ljust(width, b"\0")
            values = struct.unpack(f"={len(self.names)}Q", raw)
            for name, value in zip(self.names, values, strict=True):
                totals[name] += value
        return totals

    def processes(self) -> int:
        """How many processes have counted here (live or exited)."""
        return sum(1 for _ in self.directory.glob("*.counters"))

    def close(self) -> None:
        """Unmap the file (it stays on disk so totals keep this process's counts)."""
        self._view.release()
        self._mmap.close()


class SharedGenerations:
    """`slots` generation numbers in one shared file; reading one is a memory read."""

    def __init__(self, path: Path, slots: int) -> None:
        self.path = Path(path)
        self.slots = slots
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._mmap, self.view = _map_file(self.path, slots)
        """The generations as a memoryview of ints (index it on hot paths)."""

    def get(self, slot: int) -> int:
        """The current generation of `slot`."""
        return int(self.view[slot])

    def bump(self, slot: int) -> int:
        """Move `slot` to a new generation, distinct from any earlier one; returns it."""
        new = max(time.time_ns(), self.view[slot] + 1)
        self.view[slot] = new
        return new

    def close(self) -> None:
        """Unmap the file."""
        self.view.release()
        self._mmap.close()
