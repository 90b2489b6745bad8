"""Destroying a live SQLite database for real: every page, or chosen pages of one table.

A page of a database in WAL mode lives in two places: the main file (at `(n - 1) *
page_size`) and, when it changed since the last checkpoint, in one or more frames of the
`-wal` file (each frame: a 24-byte header whose first 4 bytes are the page number, then the
page). Readers take the newest frame when there is one, so a page is only really damaged
when every copy of it is: `overwrite_pages` writes over the main file's copy *and* every WAL
frame holding that page. The `-shm` index is left alone: it is memory the running
processes share, not storage.

Writes go through raw descriptors (`os.pwrite`, then `fsync`), under `PRIMARY_LOCK` and
with no SQLite connection of this process open on the file (see `common`).
"""

from __future__ import annotations

import os
import random
import sqlite3
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.faults.dr.common import PRIMARY_LOCK

WAL_HEADER_BYTES = 32
WAL_FRAME_HEADER_BYTES = 24
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class FileDamage:
    """What was done to the files: bytes overwritten (or truncated away) per file name."""

    how: str
    bytes_by_file: dict[str, int]


@dataclass(frozen=True)
class PageDamage:
    """Pages overwritten: their numbers and owners, and how many copies of them were hit."""

    pages: tuple[int, ...]
    owners: dict[int, str]
    page_size: int
    main_file_copies: int
    wal_frames: int


def wal_path(db: Path) -> Path:
    """The `-wal` file beside `db`."""
    return db.with_name(db.name + "-wal")


def destroy_files(db: Path) -> FileDamage:
    """Lose the database for real: every byte of `db` and its WAL overwritten in place with
    random bytes (the sizes stay: an emptied file would be a valid empty database, and a
    replicator could copy it over the standby)."""
    done: dict[str, int] = {}
    with PRIMARY_LOCK:
        for path in (db, wal_path(db)):
            if not path.exists():
                continue
            fd = os.open(path, os.O_WRONLY)
            try:
                size = os.fstat(fd).st_size
                for offset in range(0, size, _CHUNK_BYTES):
                    os.pwrite(fd, os.urandom(min(_CHUNK_BYTES, size - offset)), offset)
                os.fsync(fd)
            finally:
                os.close(fd)
            done[path.name] = size
    return FileDamage("destroy_pages", done)


def table_pages(db: Path, table: str, include_indexes: bool = True) -> dict[int, str]:
    """Page number -> owner (`table` or one of its indexes) of every page of `table`'s
    b-tree(s), read through SQLite's `dbstat` (so pages only in the WAL count). Page 1 is
    never listed: the file must still open as a database."""
    with PRIMARY_LOCK:
        conn = sqlite3.connect(f"file:{db.resolve()}?mode=ro", uri=True, timeout=5.0)
        try:
            names = [table]
            if include_indexes:
                rows = conn.execute(
                    "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?",
                    (table,),
                ).fetchall()
                names += [str(row[0]) for row in rows]
            marks = ", ".join("?" for _ in names)
            rows = conn.execute(
                f"SELECT pageno, name FROM dbstat WHERE name IN ({marks}) ORDER BY pageno", names
            ).fetchall()
        finally:
            conn.close()
    return {int(page): str(name) for page, name in rows if int(page) > 1}


def page_size_of(db: Path) -> int:
    """The page size recorded in the database header (bytes 16-17; 1 means 65536)."""
    with PRIMARY_LOCK:
        fd = os.open(db, os.O_RDONLY)
        try:
            header = os.pread(fd, 18, 0)
        finally:
            os.close(fd)
    (size,) = struct.unpack(">H", header[16:18])
    return 65536 if size == 1 else int(size)


def choose_pages(
    owners: dict[int, str], table: str, count: int, rng: random.Random
) -> tuple[int, ...]:
    """`count` pages at random, at least one of them the table's own (not an index's), so
    reading the table itself fails and not only some index lookups."""
    own = [page for page, name in owners.items() if name == table]
    pool = list(owners)
    rng.shuffle(pool)
    chosen: list[int] = []
    if own:
        chosen.append(rng.choice(own))
    chosen += [page for page in pool if page not in chosen][: max(0, count - len(chosen))]
    return tuple(sorted(chosen))


def overwrite_pages(
    db: Path, pages: Sequence[int], page_size: int, rng: random.Random
) -> tuple[int, int]:
    """Overwrite every copy of `pages` (main file and WAL frames) with random bytes.

    Returns (copies in the main file, WAL frames) overwritten.
    """
    wanted = set(pages)
    main_copies = wal_frames = 0
    with PRIMARY_LOCK:
        frames = _wal_frames(wal_path(db), page_size, wanted)
        fd = os.open(db, os.O_WRONLY)
        try:
            size = os.fstat(fd).st_size
            for page in sorted(wanted):
                offset = (page - 1) * page_size
                if offset + page_size <= size:
                    os.pwrite(fd, rng.randbytes(page_size), offset)
                    main_copies += 1
            os.fsync(fd)
        finally:
            os.close(fd)
        if frames:
            fd = os.open(wal_path(db), os.O_RDWR)
            try:
                for offset in frames:
                    # A writer may have restarted the WAL since the scan: hit only a frame
                    # that still holds one of the chosen pages.
                    header = os.pread(fd, 4, offset - WAL_FRAME_HEADER_BYTES)
                    if len(header) == 4 and struct.unpack(">I", header)[0] in wanted:
                        os.pwrite(fd, rng.randbytes(page_size), offset)
                        wal_frames += 1
                os.fsync(fd)
            finally:
                os.close(fd)
    return main_copies, wal_frames


def _wal_frames(wal: Path, page_size: int, wanted: set[int]) -> list[int]:
    """Offsets of the page data of every WAL frame holding one of `wanted`."""
    if not wal.exists():
        return []
    fd = os.open(wal, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        header = os.pread(fd, WAL_HEADER_BYTES, 0)
        if len(header) < WAL_HEADER_BYTES:
            return []
        (frame_page_size,) = struct.unpack(">I", header[8:12])
        if frame_page_size != page_size:
            return []
        found = []
        frame_bytes = WAL_FRAME_HEADER_BYTES + page_size
        for start in range(WAL_HEADER_BYTES, size - frame_bytes + 1, frame_bytes):
            (page,) = struct.unpack(">I", os.pread(fd, 4, start))
            if page in wanted:
                found.append(start + WAL_FRAME_HEADER_BYTES)
        return found
    finally:
        os.close(fd)


def corrupt_table(
    db: Path, table: str, count: int, *, include_indexes: bool = True, seed: int | None = None
) -> PageDamage:
    """Overwrite `count` pages of `table` (and its indexes) wherever they live."""
    rng = random.Random(seed)
    owners = table_pages(db, table, include_indexes)
    if not owners:
        raise ValueError(f"{db} has no pages of table {table!r} besides page 1")
    pages = choose_pages(owners, table, count, rng)
    page_size = page_size_of(db)
    main_copies, wal_frames = overwrite_pages(db, pages, page_size, rng)
    return PageDamage(pages, {p: owners[p] for p in pages}, page_size, main_copies, wal_frames)
