"""Time series of a run: per-interval totals and percentiles, and 100 ms success/failure counts.

`intervals.jsonl` holds one line per second and request name, each with encoded histograms.
Here they are read once into columns (`read_intervals`), then reduced with numpy:

- `load_timeseries` / `timeseries_from`: totals per bucket of `resolution_s` seconds, with
  percentiles from the exact merge of every histogram in the bucket;
- `load_fine_counts` / `fine_counts_from`: successes and failures per 100 ms slot, the
  resolution recovery timing needs;
- `latency_distribution`: the whole run's success and failure histograms, as bucket counts.

Histograms are decoded straight into numpy arrays (one zlib inflate and one varint decode
each, no HdrHistogram object per line), which keeps a one-hour, 20-name run under a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from harness.rundir import RunDir, histograms, iter_jsonl
from harness.rundir.hdr import COUNTS_LEN, BlobDecoder
from harness.rundir.intervals import FINE_SLOT_S, FINE_SLOTS

#: Percentiles reported per bucket, with the column name each gets.
PERCENTILES: tuple[tuple[float, str], ...] = (
    (50.0, "p50_ms"),
    (95.0, "p95_ms"),
    (99.0, "p99_ms"),
    (99.9, "p99_9_ms"),
)
_FINE_SLOTS = FINE_SLOTS


@dataclass
class IntervalColumns:
    """The lines of `intervals.jsonl`, column by column (one entry per line)."""

    t: list[float] = field(default_factory=list)
    dt_s: list[float] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    """Arrival-rate starts dropped (the `(arrivals)` lines; 0 elsewhere)."""
    hdr: list[str | None] = field(default_factory=list)
    hdr_fail: list[str | None] = field(default_factory=list)
    fine_ok: list[list[int] | None] = field(default_factory=list)
    fine_fail: list[list[int] | None] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    unreadable_histograms: int = 0

    def __len__(self) -> int:
        return len(self.t)


def read_intervals(run_dir: Path, name: str | None = None) -> IntervalColumns:
    """Read `intervals.jsonl` into columns; only lines of request `name` when it is given.

    Lines without a numeric `t` are skipped (a torn last line is skipped by the reader).
    Error kinds are summed over the lines read. The last file read is remembered while its
    size and modification time stay the same (recovery analysis and the report both read
    it): the lists are shared between callers, so treat them as read-only.
    """
    path = RunDir(Path(run_dir)).intervals
    try:
        stat = path.stat()
    except OSError:
        return IntervalColumns()
    key = (str(path.resolve()), name, stat.st_size, stat.st_mtime_ns)
    cached = _LAST_READ.get(key)
    if cached is None:
        cached = _read_columns(path, name)
        _LAST_READ.clear()
        _LAST_READ[key] = cached
    return replace(cached, errors=dict(cached.errors), unreadable_histograms=0)


_LAST_READ: dict[tuple[str, str | None, int, int], IntervalColumns] = {}


def _read_columns(path: Path, name: str | None) -> IntervalColumns:
    cols = IntervalColumns()
    for rec in iter_jsonl(path):
        t = rec.get("t")
        if not isinstance(t, int | float):
            continue
        rec_name = str(rec.get("name", ""))
        if name is not None and rec_name != name:
            continue
        cols.t.append(float(t))
        cols.dt_s.append(float(rec.get("dt_s") or 1.0))
        cols.name.append(rec_name)
        cols.requests.append(int(rec.get("requests") or 0))
        cols.failures.append(int(rec.get("failures") or 0))
        cols.bytes.append(int(rec.get("bytes") or 0))
        cols.dropped.append(int(rec.get("dropped_iterations") or 0))
        cols.hdr.append(rec.get("hdr"))
        cols.hdr_fail.append(rec.get("hdr_fail"))
        cols.fine_ok.append(rec.get("fine_ok"))
        cols.fine_fail.append(rec.get("fine_fail"))
        for kind, count in (rec.get("errors") or {}).items():
            cols.errors[str(kind)] = cols.errors.get(str(kind), 0) + int(count)
    return cols


class CountsDecoder:
    """Decodes encoded histograms into numpy bucket counts of the project's configuration.

    `add_into(blob, target)` adds one histogram's counts to the target array and returns
    the (lowest, highest) non-zero bucket index, or None for an empty histogram. The
    decoding is harness.rundir.hdr's (one decoder for the whole project).
    """

    def __init__(self) -> None:
        self.counts_len: int = COUNTS_LEN
        self.values_us: np.ndarray = histograms.bucket_values_us(histograms.new_histogram())
        decoder = BlobDecoder()
        # bound once: the report calls this for every blob of an hour-long run
        self.add_into: Callable[[str, np.ndarray], tuple[int, int] | None] = decoder.add_range

    def zeros(self) -> np.ndarray:
        """A fresh, empty counts array."""
        return np.zeros(self.counts_len, dtype=np.int64)


def percentiles_from_counts(
    counts: np.ndarray, values_us: np.ndarray, pcts: Iterable[float]
) -> list[int]:
    """Values (us) at `pcts` of one counts array, as `histograms.percentiles_us` defines them."""
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1]) if cumulative.size else 0
    if total == 0:
        return [0 for _ in pcts]
    targets = np.maximum((np.minimum(np.asarray(list(pcts)), 100.0) * total / 100 + 0.5), 1)
    index = np.searchsorted(cumulative, targets.astype(np.int64), side="left")
    return [int(v) for v in values_us[np.minimum(index, len(values_us) - 1)]]


def load_timeseries(
    run_dir: Path, resolution_s: float = 1.0, name: str | None = None
) -> pd.DataFrame:
    """Per-bucket totals of a run (all request names, or only `name`).

    Columns: `t` (bucket start, epoch s, a multiple of `resolution_s`), `covered_s`,
    `requests`, `failures`, `bytes`, `dropped` (arrival-rate starts dropped), `rps`,
    `error_rate` (fraction), and `p50_ms`,
    `p95_ms`, `p99_ms`, `p99_9_ms`, `max_ms` of the successes (NaN where none).
    Every bucket from the first to the last line is present; a bucket without data has
    zero requests. `resolution_s` must be at least the interval length (1 s).
    """
    return timeseries_from(read_intervals(run_dir, name), resolution_s)


def timeseries_from(
    cols: IntervalColumns,
    resolution_s: float = 1.0,
    decoder: CountsDecoder | None = None,
    total_ok: np.ndarray | None = None,
) -> pd.DataFrame:
    """`load_timeseries` on columns already read; see there for the columns.

    When `total_ok` (a `decoder.zeros()` array) is given, every success histogram is also
    added into it, so a caller that wants the whole-run distribution decodes only once.
    """
    if resolution_s < 1.0:
        raise ValueError(f"resolution_s must be >= 1.0 (the interval length), got {resolution_s}")
    decoder = decoder or CountsDecoder()
    if not len(cols):
        return _empty_timeseries()
    t = np.asarray(cols.t, dtype=np.float64)
    bucket = np.floor(t / resolution_s + 1e-9).astype(np.int64)
    first = int(bucket.min())
    n_buckets = int(bucket.max()) - first + 1
    rel = bucket - first
    frame = pd.DataFrame({"t": (first + np.arange(n_buckets)) * resolution_s})
    for column in ("requests", "failures", "bytes", "dropped"):
        values = np.asarray(getattr(cols, column), dtype=np.int64)
        frame[column] = np.bincount(rel, weights=values, minlength=n_buckets).astype(np.int64)
    frame["covered_s"] = _covered_s(t, np.asarray(cols.dt_s), rel, n_buckets, resolution_s)
    frame["rps"] = frame["requests"] / frame["covered_s"]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = frame["failures"].to_numpy() / frame["requests"].to_numpy()
    frame["error_rate"] = np.nan_to_num(rate, nan=0.0)
    pct = _bucket_percentiles_ms(cols, rel, n_buckets, decoder, total_ok)
    for index, (_, column) in enumerate(PERCENTILES):
        frame[column] = pct[:, index]
    frame["max_ms"] = pct[:, len(PERCENTILES)]
    return frame


def _empty_timeseries() -> pd.DataFrame:
    columns = ["t", "requests", "failures", "bytes", "dropped", "covered_s", "rps", "error_rate"]
    columns += [c for _, c in PERCENTILES] + ["max_ms"]
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})


def _covered_s(
    t: np.ndarray, dt_s: np.ndarray, rel: np.ndarray, n_buckets: int, resolution_s: float
) -> np.ndarray:
    """Seconds of data in each bucket (distinct interval starts x their length).

    A partial first or last bucket then gets its true rate; a bucket with no line at all
    counts as fully covered with zero requests (nothing completed in it).
    """
    _, first_line = np.unique(t, return_index=True)
    covered = np.bincount(rel[first_line], weights=dt_s[first_line], minlength=n_buckets)
    covered = np.minimum(covered, resolution_s)
    covered[covered == 0] = resolution_s
    return covered


def _bucket_percentiles_ms(
    cols: IntervalColumns,
    rel: np.ndarray,
    n_buckets: int,
    decoder: CountsDecoder,
    total_ok: np.ndarray | None,
) -> np.ndarray:
    """One row per bucket: the PERCENTILES then the max, in ms (NaN for no successes).

    Every success histogram is also added to `total_ok` when given (one decode for both).
    """
    out = np.full((n_buckets, len(PERCENTILES) + 1), np.nan)
    pcts = [p for p, _ in PERCENTILES] + [100.0]
    acc = decoder.zeros()
    order = np.argsort(rel, kind="stable")
    lo, hi, current = decoder.counts_len, -1, -1
    for line in order:
        b = int(rel[line])
        if b != current:
            _close_bucket(out, current, acc, lo, hi, pcts, decoder, total_ok)
            lo, hi, current = decoder.counts_len, -1, b
        span = _add_checked(decoder, cols, cols.hdr[line], acc)
        if span is not None:
            lo, hi = min(lo, span[0]), max(hi, span[1])
    _close_bucket(out, current, acc, lo, hi, pcts, decoder, total_ok)
    return out


def _close_bucket(
    out: np.ndarray,
    bucket: int,
    acc: np.ndarray,
    lo: int,
    hi: int,
    pcts: list[float],
    decoder: CountsDecoder,
    total_ok: np.ndarray | None,
) -> None:
    """Write one bucket's percentiles, add it to the total, and empty the accumulator."""
    if hi < 0:
        return
    window = acc[lo : hi + 1]
    values = percentiles_from_counts(window, decoder.values_us[lo : hi + 1], pcts)
    out[bucket] = np.asarray(values, dtype=np.float64) / 1000.0
    if total_ok is not None:
        total_ok[lo : hi + 1] += window
    window[:] = 0


def load_fine_counts(run_dir: Path, name: str | None = None) -> pd.DataFrame:
    """Successes and failures per 100 ms slot, by completion time.

    Columns: `t` (slot start, epoch s), `ok`, `fail`. Every slot from the first line's
    start to the last line's end is present (zeros where nothing completed).
    """
    return fine_counts_from(read_intervals(run_dir, name))


def fine_counts_from(
    cols: IntervalColumns, start_t: float | None = None, end_t: float | None = None
) -> pd.DataFrame:
    """`load_fine_counts` on columns already read; only intervals overlapping
    [`start_t`, `end_t`) when given (a chart of the minute around a fault needs no more)."""
    t = np.asarray(cols.t, dtype=np.float64)
    keep = np.ones(len(t), dtype=bool)
    if start_t is not None:
        keep &= t + np.asarray(cols.dt_s, dtype=np.float64) > start_t
    if end_t is not None:
        keep &= t < end_t
    lines = np.flatnonzero(keep)
    if not len(lines):
        return pd.DataFrame(
            {"t": pd.Series(dtype="float64"), "ok": pd.Series(dtype="int64"), "fail": []}
        ).astype({"fail": "int64"})
    slot0 = np.rint(t[lines] / FINE_SLOT_S).astype(np.int64)
    first = int(slot0.min())
    n_slots = int(slot0.max()) - first + _FINE_SLOTS
    ok = np.zeros(n_slots, dtype=np.int64)
    fail = np.zeros(n_slots, dtype=np.int64)
    base = slot0 - first
    for target, series in ((ok, cols.fine_ok), (fail, cols.fine_fail)):
        picked = [(k, values) for k, i in enumerate(lines) if (values := series[i])]
        if not picked:
            continue
        matrix = _slot_matrix([values for _, values in picked])
        rows = np.fromiter((k for k, _ in picked), dtype=np.int64, count=len(picked))
        index = base[rows][:, None] + np.arange(_FINE_SLOTS)[None, :]
        np.add.at(target, index.ravel(), matrix.ravel())
    slots = (first + np.arange(n_slots)) * FINE_SLOT_S
    return pd.DataFrame({"t": np.round(slots, 3), "ok": ok, "fail": fail})


def _slot_matrix(series: list[list[int]]) -> np.ndarray:
    """Rows of 10 slot counts; a short or long list is padded or cut (never misaligned)."""
    try:
        matrix = np.asarray(series, dtype=np.int64)
        if matrix.ndim == 2 and matrix.shape[1] == _FINE_SLOTS:
            return matrix
    except ValueError:
        pass
    matrix = np.zeros((len(series), _FINE_SLOTS), dtype=np.int64)
    for row, values in enumerate(series):
        cut = list(values)[:_FINE_SLOTS]
        matrix[row, : len(cut)] = cut
    return matrix


@dataclass(frozen=True)
class LatencyDistribution:
    """The whole run's success and failure histograms as bucket counts (value in us)."""

    values_us: np.ndarray
    ok_counts: np.ndarray
    fail_counts: np.ndarray


def latency_distribution(
    cols: IntervalColumns, decoder: CountsDecoder | None = None, ok: np.ndarray | None = None
) -> LatencyDistribution:
    """Merge every line's `hdr` and `hdr_fail` into two counts arrays.

    Pass `ok` when the successes were already summed (see `timeseries_from(total_ok=...)`).
    """
    decoder = decoder or CountsDecoder()
    fail = decoder.zeros()
    todo: list[tuple[np.ndarray, list[str | None]]] = [(fail, cols.hdr_fail)]
    if ok is None:
        ok = decoder.zeros()
        todo.append((ok, cols.hdr))
    for target, blobs in todo:
        for blob in blobs:
            _add_checked(decoder, cols, blob, target)
    return LatencyDistribution(decoder.values_us, ok, fail)


def _add_checked(
    decoder: CountsDecoder,
    cols: IntervalColumns,
    blob: str | None,
    target: np.ndarray,
) -> tuple[int, int] | None:
    """Add `blob` to `target`; a corrupt one is counted in `cols`, not fatal."""
    if not blob:
        return None
    try:
        return decoder.add_into(blob, target)
    except (ValueError, TypeError):
        cols.unreadable_histograms += 1
        return None
