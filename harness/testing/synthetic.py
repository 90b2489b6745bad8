"""Realistic synthetic run directories, for tests and benchmarks.

`make_run_dir` writes run.json, intervals.jsonl, events.jsonl and ledger.jsonl exactly as
docs/run-directory.md describes (real HdrHistogram V2 blobs, fine-grained counts, corrected
histograms, late lines, a torn tail for crashed runs) and returns the raw samples, so tests
can compare what the analysis computes with numpy on the very same values.

Requests arrive as a Poisson process per second and request name; latencies are lognormal,
multiplied inside slow windows; inside failure windows a fraction of requests fail (as
`503` or `ConnectionRefusedError`). Histograms are built from vectorised bucket indexes
and encoded through hdrh's C codec directly (`harness.rundir.hdr`), so an hour of 20 names takes
seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.rundir import EVENTS, INTERVALS, LEDGER, RUN_JSON, write_json_atomic
from harness.rundir.hdr import COUNTS_LEN, BlobEncoder, bucket_indexes
from harness.rundir.histograms import HIGHEST_US, LOWEST_US
from harness.testing.records import Layout, Stage, manifest, write_events, write_ledger

DEFAULT_NAMES = (
    "GET /api/items",
    "GET /api/items/{item_id}",
    "POST /api/items",
    "GET /pages/{slug}",
)
FAILURE_KINDS = ("503", "ConnectionRefusedError")


@dataclass(frozen=True)
class SyntheticRun:
    """What `make_run_dir` wrote, with the raw samples behind every histogram.

    Sample arrays are aligned: `t_s[i]` (completion time), `name_index[i]`, `latency_us[i]`
    (as recorded, i.e. clipped into the histogram range), `ok[i]`. `corrected_us` holds the
    successes' values after coordinated-omission correction (with `corrected_name_index`),
    or None when the load was not paced.
    """

    path: Path
    names: tuple[str, ...]
    started_at: float
    ended_at: float | None
    duration_s: float
    t_s: np.ndarray
    name_index: np.ndarray
    latency_us: np.ndarray
    ok: np.ndarray
    bytes_: np.ndarray
    corrected_us: np.ndarray | None
    corrected_name_index: np.ndarray | None
    ledger_keys: tuple[str, ...] = ()
    lost_keys: tuple[str, ...] = ()
    faults: tuple[tuple[float, float, str], ...] = ()
    worker_lost_at: tuple[float, ...] = field(default=())

    def _mask(self, name: str | None) -> np.ndarray:
        if name is None:
            return np.ones(len(self.latency_us), dtype=bool)
        return np.asarray(self.name_index == self.names.index(name))

    def ok_us(self, name: str | None = None) -> np.ndarray:
        """Successes' latencies in microseconds (all names, or one)."""
        return np.asarray(self.latency_us[self._mask(name) & self.ok])

    def fail_us(self, name: str | None = None) -> np.ndarray:
        """Failures' latencies in microseconds (all names, or one)."""
        return np.asarray(self.latency_us[self._mask(name) & ~self.ok])

    def corrected(self, name: str | None = None) -> np.ndarray | None:
        """Corrected success latencies in microseconds, or None when not paced."""
        if self.corrected_us is None or self.corrected_name_index is None:
            return None
        if name is None:
            return self.corrected_us
        return np.asarray(self.corrected_us[self.corrected_name_index == self.names.index(name)])

    def requests(self, name: str | None = None) -> int:
        """Completed requests (all names, or one)."""
        return int(self._mask(name).sum())

    def failures(self, name: str | None = None) -> int:
        """Failed requests (all names, or one)."""
        return int((self._mask(name) & ~self.ok).sum())


Window = tuple[float, float, float]


@dataclass(frozen=True)
class _Samples:
    """Every request of the run, one entry per request (successes and failures)."""

    sec: np.ndarray
    name_idx: np.ndarray
    offset: np.ndarray
    latency_us: np.ndarray
    ok: np.ndarray
    kinds: np.ndarray
    nbytes: np.ndarray
    clipped: np.ndarray


def make_run_dir(
    path: Path,
    *,
    duration_s: float = 60,
    names: Sequence[str] = DEFAULT_NAMES,
    rate_per_s: float = 100.0,
    seed: int = 0,
    latency_ms: tuple[float, float] = (20.0, 0.5),
    failure_windows: Sequence[Window] = (),
    slow_windows: Sequence[Window] = (),
    stages: Sequence[Stage] = (),
    faults: Sequence[tuple[float, float, str]] = (),
    workers: int = 2,
    lost_workers: int = 0,
    complete: bool = True,
    ledger_writes: int = 0,
    lost_keys: int = 0,
    started_at: float = 1_700_000_000.0,
    kind: str = "run",
    scenario: str | None = None,
    profile: str | None = "moderate",
    thresholds: Sequence[str] = (),
    status: str | None = None,
    paced_interval_ms: float | None = 100.0,
    late_fraction: float = 0.0,
    base_failure_fraction: float = 0.0,
) -> SyntheticRun:
    """Write a synthetic run directory at `path` (created if needed) and return its samples.

    `rate_per_s` is the total arrival rate over all names (names are weighted 1, 1/2,
    1/3, ...), unless `stages` — `(name, duration_s, users, rate_per_s)` — give it per
    stage. `latency_ms` is the lognormal's (median_ms, sigma); each name's median is
    scaled a little. Windows are `(start_s, end_s, value)` in seconds from the start:
    `failure_windows` fail that fraction of requests, `slow_windows` multiply latency.
    `faults` are `(t_inject_s, t_clear_s, name)`. `lost_workers` workers are lost at mid-run
    and the rate drops in proportion. `complete=False` leaves run.json `running` without
    `ended_at` and tears the last line of intervals.jsonl. `ledger_writes` acknowledged
    writes are spread over the run; the `lost_keys` last ones acknowledged before the first
    fault are reported as lost. `late_fraction` of (second, name) lines are split in two,
    the second part written a second late, as a slow worker would. `paced_interval_ms`
    None means unpaced load (`hdr_corrected` null).
    """
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = tuple(names)
    seconds = max(1, math.ceil(duration_s))
    lost_from_s = seconds // 2 if lost_workers else seconds
    rates = _rate_schedule(seconds, rate_per_s, stages)
    rates[lost_from_s:] *= max(workers - lost_workers, 0) / max(workers, 1)
    windows = (failure_windows, slow_windows, base_failure_fraction)
    samples = _draw_samples(rng, len(names), rates, latency_ms, *windows)
    interval_us = None if paced_interval_ms is None else max(1, round(paced_interval_ms * 1000))
    ok_positions = np.flatnonzero(samples.ok)
    owner, corrected = _correct(samples.latency_us[ok_positions], interval_us)
    corrected_owner = None if owner is None else ok_positions[owner]
    layout = Layout(started_at, names, seconds, workers, lost_workers, lost_from_s)
    _write_intervals(
        path / INTERVALS, rng, layout, samples, corrected, corrected_owner, late_fraction, complete
    )
    fault_list = tuple((float(a), float(b), str(n)) for a, b, n in faults)
    keys, lost = write_ledger(
        path / LEDGER, rng, started_at, seconds, ledger_writes, lost_keys, fault_list
    )
    write_events(path / EVENTS, layout, stages, rate_per_s, fault_list, complete, status)
    run_status = status or ("completed" if complete else "running")
    ended_at = started_at + seconds if complete else None
    run_json = manifest(path, layout, ended_at, kind, scenario, profile, thresholds, run_status)
    write_json_atomic(path / RUN_JSON, run_json)
    return SyntheticRun(
        path=path,
        names=names,
        started_at=started_at,
        ended_at=ended_at,
        duration_s=float(seconds),
        t_s=started_at + samples.sec + samples.offset,
        name_index=samples.name_idx,
        latency_us=samples.latency_us,
        ok=samples.ok,
        bytes_=samples.nbytes,
        corrected_us=corrected,
        corrected_name_index=None if owner is None else samples.name_idx[corrected_owner],
        ledger_keys=keys,
        lost_keys=lost,
        faults=fault_list,
        worker_lost_at=tuple(started_at + lost_from_s for _ in range(lost_workers)),
    )


def _rate_schedule(seconds: int, rate_per_s: float, stages: Sequence[Stage]) -> np.ndarray:
    rates = np.full(seconds, float(rate_per_s))
    start = 0
    for _name, stage_s, _users, stage_rate in stages:
        end = min(seconds, start + math.ceil(stage_s))
        rates[start:end] = stage_rate
        start = end
    if stages and start < seconds:
        rates[start:] = stages[-1][3]
    return rates


def _in_windows(t: np.ndarray, windows: Sequence[Window], default: float) -> np.ndarray:
    values = np.full(len(t), float(default))
    for start, end, value in windows:
        values[(t >= start) & (t < end)] = value
    return values


def _draw_samples(
    rng: np.random.Generator,
    n_names: int,
    per_second_rate: np.ndarray,
    latency_ms: tuple[float, float],
    failure_windows: Sequence[Window],
    slow_windows: Sequence[Window],
    base_failure_fraction: float,
) -> _Samples:
    weights = 1.0 / np.arange(1, n_names + 1)
    weights /= weights.sum()
    counts = rng.poisson(np.outer(per_second_rate, weights)).ravel()  # seconds x names
    cells = np.repeat(np.arange(counts.size), counts)
    sec, name_idx = np.divmod(cells, n_names)
    offset = rng.random(cells.size)
    t_rel = sec + offset
    median_ms, sigma = latency_ms
    scale = (0.6 + 0.2 * (np.arange(n_names) % 5))[name_idx]
    raw_ms = rng.lognormal(np.log(median_ms), sigma, cells.size) * scale
    raw_ms *= _in_windows(t_rel, slow_windows, 1.0)
    ok = rng.random(cells.size) >= _in_windows(t_rel, failure_windows, base_failure_fraction)
    kinds = np.where(rng.random(cells.size) < 0.7, 0, 1)
    refused = ~ok & (kinds == 1)
    raw_ms[refused] = rng.lognormal(0.0, 0.3, int(refused.sum()))  # ~1 ms: nothing listened
    raw_us = np.rint(raw_ms * 1000).astype(np.int64)
    return _Samples(
        sec=sec,
        name_idx=name_idx,
        offset=offset,
        latency_us=np.clip(raw_us, LOWEST_US, HIGHEST_US),
        ok=ok,
        kinds=kinds,
        nbytes=np.where(ok, rng.integers(800, 4000, cells.size), 120),
        clipped=(raw_us > HIGHEST_US) | (raw_us < 0),
    )


def _correct(
    ok_us: np.ndarray, interval_us: int | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """HdrHistogram's `record_corrected_value`, vectorised: v, v-E, v-2E, ... while > 0.

    Returns (owner, values): for each corrected value, the position (in `ok_us`) of the
    sample it came from, and the value itself.
    """
    if interval_us is None:
        return None, None
    repeat = (ok_us - 1) // interval_us + 1
    owner = np.repeat(np.arange(len(ok_us)), repeat)
    step = np.arange(len(owner)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    return owner, ok_us[owner] - step * interval_us


_Runs = tuple[np.ndarray, np.ndarray, np.ndarray]


def _bucket_runs(keys: np.ndarray, indexes: np.ndarray, n_keys: int) -> _Runs:
    """Bucket counts of every key at once: key k's are where[b[k]:b[k+1]], how_many[...]."""
    combined, how_many = np.unique(keys * COUNTS_LEN + indexes, return_counts=True)
    owner, where = np.divmod(combined, COUNTS_LEN)
    return where, how_many, np.searchsorted(owner, np.arange(n_keys + 1))


@dataclass(frozen=True)
class _Lines:
    """Everything intervals.jsonl needs, per line key (= (second x name) x 2 + late part)."""

    hist: _Runs  # keyed by line key x 2 + failed
    corrected: _Runs | None
    late_cell: np.ndarray
    fine: list[list[list[int]]]
    columns: dict[str, list[Any]]


def _line_columns(
    rng: np.random.Generator,
    layout: Layout,
    samples: _Samples,
    corrected: np.ndarray | None,
    corrected_owner: np.ndarray | None,
    late_fraction: float,
) -> _Lines:
    n_names = len(layout.names)
    n_lines = 2 * layout.seconds * n_names
    cell = samples.sec * n_names + samples.name_idx
    late_cell = rng.random(n_lines // 2) < late_fraction
    # a late cell's samples go half to the on-time line (part 0), half to a late one (1)
    part = (late_cell[cell] & (rng.random(cell.size) < 0.5)).astype(np.int64)
    line = cell * 2 + part
    failed = (~samples.ok).astype(np.int64)
    corr = None
    if corrected is not None and corrected_owner is not None:
        corr = _bucket_runs(line[corrected_owner], bucket_indexes(corrected), n_lines)
    slot = np.minimum((samples.offset * 10).astype(np.int64), 9)
    fine = np.bincount((line * 2 + failed) * 10 + slot, minlength=n_lines * 20)
    errors = np.bincount(line * 2 + samples.kinds, weights=failed, minlength=2 * n_lines)

    def total(weights: np.ndarray | None = None) -> list[int]:
        counts: list[int] = (
            np.bincount(line, weights=weights, minlength=n_lines).astype(int).tolist()
        )
        return counts

    return _Lines(
        hist=_bucket_runs(line * 2 + failed, bucket_indexes(samples.latency_us), 2 * n_lines),
        corrected=corr,
        late_cell=late_cell,
        fine=fine.reshape(n_lines, 2, 10).tolist(),
        columns={
            "requests": total(),
            "failures": total(failed),
            "bytes": total(samples.nbytes),
            "clipped": total(samples.clipped),
            "errors": errors.astype(int).reshape(n_lines, 2).tolist(),
        },
    )


def _write_intervals(
    out: Path,
    rng: np.random.Generator,
    layout: Layout,
    samples: _Samples,
    corrected: np.ndarray | None,
    corrected_owner: np.ndarray | None,
    late_fraction: float,
    complete: bool,
) -> None:
    data = _line_columns(rng, layout, samples, corrected, corrected_owner, late_fraction)
    columns, encoder = data.columns, BlobEncoder()
    lines: list[tuple[float, str]] = []
    for key in range(len(data.fine)):
        late = key % 2
        if late and columns["requests"][key] == 0:
            continue
        second, name_no = divmod(key // 2, len(layout.names))
        record = {
            "t": layout.started_at + second,
            "dt_s": 1.0,
            "name": layout.names[name_no],
            **{field: columns[field][key] for field in ("requests", "failures", "bytes")},
            "hdr": _encode_run(encoder, data.hist, 2 * key),
            "hdr_corrected": None
            if data.corrected is None
            else (_encode_run(encoder, data.corrected, key)),
            "hdr_fail": _encode_run(encoder, data.hist, 2 * key + 1),
            "fine_ok": data.fine[key][0],
            "fine_fail": data.fine[key][1],
            "errors": {
                k: v for k, v in zip(FAILURE_KINDS, columns["errors"][key], strict=True) if v
            },
            "clipped": columns["clipped"][key],
            "workers": _line_workers(layout, second, bool(data.late_cell[key // 2]), late),
        }
        lines.append((second + 1.5 * late, json.dumps(record, separators=(",", ":"))))
    lines.sort(key=lambda pair: pair[0])
    with out.open("w", encoding="utf-8") as fh:
        fh.writelines(line + "\n" for _key, line in lines)
        if not complete and lines:
            fh.write(lines[-1][1][: len(lines[-1][1]) // 2])  # a crash mid-write


def _errors(by_kind: list[int]) -> dict[str, int]:
    return {kind: n for kind, n in zip(FAILURE_KINDS, by_kind, strict=True) if n}


def _encode_run(encoder: BlobEncoder, runs: _Runs, key: int) -> str | None:
    where, how_many, bounds = runs
    lo, hi = bounds[key], bounds[key + 1]
    return encoder.encode(where[lo:hi], how_many[lo:hi])


def _line_workers(layout: Layout, second: int, late_cell: bool, late: int) -> int:
    workers = layout.workers
    if second >= layout.lost_from_s:
        workers -= layout.lost_workers
    if late_cell and workers > 1:
        workers = 1 if late else workers - 1
    return max(workers, 1)
