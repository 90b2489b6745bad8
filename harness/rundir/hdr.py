"""Fast HdrHistogram blobs: encode bucket counts and add decoded blobs into numpy arrays.

Same wire format as `HdrHistogram.encode()` / `decode()` (V2, compressed, base64) and the
project's one configuration (harness.rundir.histograms), but without building an
`HdrHistogram` object per blob: hdrh's C codec (`pyhdrh`) writes into one reused buffer,
and sums live in numpy arrays. That makes reading an hour of 20 request names (150,000
blobs) take seconds instead of minutes. Blobs in another configuration still decode, through
hdrh's slower general path.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import struct
import zlib
from functools import lru_cache

import numpy as np
import pyhdrh
from hdrh.codec import (
    V2_COMPRESSION_COOKIE_BASE,
    V2_ENCODING_COOKIE_BASE,
    get_compression_cookie,
    get_cookie_base,
    get_encoding_cookie,
)
from hdrh.histogram import HdrHistogram

from harness.rundir.histograms import (
    HIGHEST_US,
    LOWEST_US,
    SIGNIFICANT_FIGURES,
    counts,
    new_histogram,
)

_PROTO = new_histogram()
COUNTS_LEN: int = _PROTO.counts_len
_UNIT_MAGNITUDE: int = _PROTO.unit_magnitude
_HALF_MAGNITUDE: int = _PROTO.sub_bucket_half_count_magnitude
_SUB_BUCKET_MASK: int = _PROTO.sub_bucket_mask
_PAYLOAD_HEADER = struct.Struct(">IIIIqqd")
_EXTERNAL_HEADER = struct.Struct(">II")
_OUR_SETTINGS = (0, SIGNIFICANT_FIGURES, LOWEST_US, HIGHEST_US)
# the payload header's bytes 8..32 in our configuration, and the V2 encoding cookie (8-byte
# words), as `BlobEncoder` and hdrh's `encode()` write them
_OUR_HEADER = struct.pack(">IIqq", *_OUR_SETTINGS)
_ENCODING_COOKIE = struct.pack(">I", get_encoding_cookie())


def bucket_indexes(values_us: np.ndarray) -> np.ndarray:
    """HdrHistogram counts-array index of each value (vectorised `_counts_index_for`)."""
    values = np.asarray(values_us, dtype=np.int64)
    # frexp's exponent is the bit length; exact because values stay far below 2**53.
    pow2ceiling = np.frexp((values | _SUB_BUCKET_MASK).astype(np.float64))[1].astype(np.int64)
    bucket = pow2ceiling - _UNIT_MAGNITUDE - (_HALF_MAGNITUDE + 1)
    sub_bucket = values >> (bucket + _UNIT_MAGNITUDE)
    return ((bucket + 1) << _HALF_MAGNITUDE) + sub_bucket - (1 << _HALF_MAGNITUDE)


@lru_cache(maxsize=1)
def bucket_bounds_us() -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) value equivalent to each bucket index, as hdrh defines them."""
    index = np.arange(COUNTS_LEN, dtype=np.int64)
    half_count = 1 << _HALF_MAGNITUDE
    bucket = (index >> _HALF_MAGNITUDE) - 1
    sub_bucket = (index & (half_count - 1)) + half_count
    first = bucket < 0
    sub_bucket[first] -= half_count
    bucket[first] = 0
    lowest = sub_bucket << (bucket + _UNIT_MAGNITUDE)
    size = np.int64(1) << (bucket + _UNIT_MAGNITUDE)
    return lowest, lowest + size - 1


class BlobEncoder:
    """Encodes bucket counts as HdrHistogram V2 compressed base64 (what `encode()` writes).

    Reuses one counts buffer and one varint buffer, which is what makes it fast.
    """

    def __init__(self) -> None:
        self._counts = np.zeros(COUNTS_LEN, dtype=np.int64)
        self._counts_address = self._counts.ctypes.data
        self._varint = (ctypes.c_byte * (COUNTS_LEN * 9))()
        self._varint_address = ctypes.addressof(self._varint)
        self._encoding_cookie = get_encoding_cookie()
        self._compression_cookie = get_compression_cookie()

    def encode_values(self, values_us: np.ndarray) -> str | None:
        """The blob of a histogram holding these values; None if there are none."""
        where, how_many = np.unique(bucket_indexes(values_us), return_counts=True)
        return self.encode(where, how_many)

    def encode(self, where: np.ndarray, how_many: np.ndarray) -> str | None:
        """The blob of a histogram with `how_many[i]` counts at index `where[i]` (ascending)."""
        if len(where) == 0:
            return None
        self._counts[where] = how_many
        limit = int(where[-1]) + 1
        try:
            length = pyhdrh.encode(self._counts_address, limit, 8, self._varint_address, limit * 9)
        finally:
            self._counts[where] = 0
        header = _PAYLOAD_HEADER.pack(
            self._encoding_cookie, length, 0, SIGNIFICANT_FIGURES, LOWEST_US, HIGHEST_US, 1.0
        )
        compressed = zlib.compress(header + ctypes.string_at(self._varint, length))
        external = _EXTERNAL_HEADER.pack(self._compression_cookie, len(compressed))
        return base64.b64encode(external + compressed).decode("ascii")


def _payload(blob: str) -> tuple[bytes, tuple[int, ...]]:
    """The decompressed payload of a blob and its header fields (ValueError if invalid)."""
    try:
        raw = base64.b64decode(blob)
        cookie, length = _EXTERNAL_HEADER.unpack_from(raw)
        if get_cookie_base(cookie) != V2_COMPRESSION_COOKIE_BASE or length != len(raw) - 8:
            raise ValueError("not an HdrHistogram V2 compressed blob")
        data = zlib.decompress(memoryview(raw)[8:])
        header = _PAYLOAD_HEADER.unpack_from(data)
    except (binascii.Error, struct.error, zlib.error) as exc:
        raise ValueError(f"undecodable histogram: {exc}") from None
    if get_cookie_base(header[0]) != V2_ENCODING_COOKIE_BASE:
        raise ValueError("undecodable histogram: not an HdrHistogram V2 payload")
    return data, header


class BlobDecoder:
    """Adds encoded histograms into numpy counts arrays, one blob at a time, exactly."""

    def __init__(self) -> None:
        self._scratch = np.zeros(COUNTS_LEN, dtype=np.int64)
        self._scratch_address = self._scratch.ctypes.data

    def add_into(self, total: np.ndarray, blob: str) -> int:
        """Add the blob's counts into `total` (length COUNTS_LEN); return how many it held.

        Raises ValueError for a blob that is not a valid HdrHistogram V2 encoding.
        """
        return self._add(total, blob)[0]

    def add_range(self, blob: str, total: np.ndarray) -> tuple[int, int] | None:
        """Add the blob's counts into `total` (note the order: blob first); the (lowest,
        highest) non-zero bucket index it touched, or None for an empty histogram
        (ValueError for an invalid blob).

        The report calls this once per blob of an hour-long run, so our own configuration
        takes a short path (one header comparison); anything else goes the checked way.
        """
        try:
            data = zlib.decompress(binascii.a2b_base64(blob)[_EXTERNAL_HEADER.size :])
        except (binascii.Error, zlib.error, ValueError):
            data = b""
        if data[:4] != _ENCODING_COOKIE or data[8:32] != _OUR_HEADER:
            held, span = self._add(total, blob)
            return span if held else None
        try:
            found = pyhdrh.decode(data, _PAYLOAD_HEADER.size, self._scratch_address, COUNTS_LEN, 8)
        except ValueError as exc:
            raise ValueError(f"undecodable histogram: {exc}") from None
        if not found["total"]:
            return None
        lo, hi = int(found["min_nonzero_index"]), int(found["max_nonzero_index"])
        window = self._scratch[lo : hi + 1]
        total[lo : hi + 1] += window
        window[:] = 0
        return lo, hi

    def _add(self, total: np.ndarray, blob: str) -> tuple[int, tuple[int, int] | None]:
        data, header = _payload(blob)
        if header[2:6] != _OUR_SETTINGS:
            return _add_foreign(total, blob)
        try:
            found = pyhdrh.decode(data, _PAYLOAD_HEADER.size, self._scratch_address, COUNTS_LEN, 8)
        except ValueError as exc:
            raise ValueError(f"undecodable histogram: {exc}") from None
        if found["total"] == 0:
            return 0, None
        lo, hi = int(found["min_nonzero_index"]), int(found["max_nonzero_index"]) + 1
        total[lo:hi] += self._scratch[lo:hi]
        self._scratch[lo:hi] = 0
        return int(found["total"]), (lo, hi - 1)


class HistogramSums:
    """Exact sums of many blobs, one counts array per slot, decoded in vectorised batches.

    `add(slot, blob)` only inflates the blob; every `batch_size` blobs, all their ZigZag
    LEB128 varint streams are decoded at once with numpy and added with one `np.add.at`.
    Work is proportional to the varints (non-zero buckets and zero runs), not to the
    histogram's 18k buckets, which is what makes 150,000 blobs a matter of a second.
    """

    def __init__(self, batch_size: int = 4096) -> None:
        self._sums = np.zeros((0, COUNTS_LEN), dtype=np.int64)
        self._used = 0
        self._batch_size = batch_size
        self._slots: list[int] = []
        self._streams: list[bytes] = []
        self._fallback = BlobDecoder()

    def new_slot(self) -> int:
        """A new, empty counts array; returns its slot number."""
        if self._used == len(self._sums):
            grown = np.zeros((max(8, 2 * self._used), COUNTS_LEN), dtype=np.int64)
            grown[: self._used] = self._sums[: self._used]
            self._sums = grown
        self._used += 1
        return self._used - 1

    def add(self, slot: int, blob: str) -> None:
        """Queue a blob's counts for `slot` (ValueError for an invalid blob)."""
        data, header = _payload(blob)
        if header[2:6] != _OUR_SETTINGS:
            _add_foreign(self._sums[slot], blob)
            return
        stream = data[_PAYLOAD_HEADER.size : _PAYLOAD_HEADER.size + header[1]]
        if stream:
            self._slots.append(slot)
            self._streams.append(stream)
            if len(self._streams) >= self._batch_size:
                self.flush()

    def counts(self, slot: int) -> np.ndarray:
        """The exact sum of every blob added to `slot` (a copy; flushes pending blobs)."""
        self.flush()
        found: np.ndarray = self._sums[slot].copy()
        return found

    def flush(self) -> None:
        """Decode and add every queued blob."""
        if not self._streams:
            return
        slots, streams = self._slots, self._streams
        self._slots, self._streams = [], []
        decoded = _decode_streams(streams)
        if decoded is None:  # a varint longer than 8 bytes: let hdrh's C decoder do it
            for slot, stream in zip(slots, streams, strict=True):
                self._add_stream_slowly(slot, stream)
            return
        which, index, value = decoded
        if len(index) and int(index.max()) >= COUNTS_LEN:
            raise ValueError("undecodable histogram: a bucket index is out of range")
        flat = self._sums.reshape(-1)  # a view: adds land in self._sums
        np.add.at(flat, np.asarray(slots, dtype=np.int64)[which] * COUNTS_LEN + index, value)

    def _add_stream_slowly(self, slot: int, stream: bytes) -> None:
        scratch = self._fallback._scratch
        data = bytes(_PAYLOAD_HEADER.size) + stream
        try:
            found = pyhdrh.decode(data, _PAYLOAD_HEADER.size, scratch.ctypes.data, COUNTS_LEN, 8)
        except ValueError as exc:
            raise ValueError(f"undecodable histogram: {exc}") from None
        if found["total"]:
            lo, hi = found["min_nonzero_index"], found["max_nonzero_index"] + 1
            self._sums[slot][lo:hi] += scratch[lo:hi]
            scratch[lo:hi] = 0


def _decode_streams(streams: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Decode ZigZag LEB128 count streams, all at once.

    Returns (stream number, bucket index, count) for every non-zero count, or None when a
    varint is longer than 8 bytes (HdrHistogram's 9-byte form), which this does not handle.
    A negative value is a run of that many empty buckets.
    """
    buf = np.frombuffer(b"".join(streams), dtype=np.uint8)
    lengths = np.fromiter((len(s) for s in streams), dtype=np.int64, count=len(streams))
    stream_end = np.cumsum(lengths) - 1
    if (buf[stream_end] & 0x80).any():
        return None  # a stream does not end on a complete varint
    ends = np.flatnonzero(buf < 0x80)
    starts = np.concatenate(([0], ends[:-1] + 1))
    widths = ends - starts + 1
    if len(widths) and int(widths.max()) > 8:
        return None
    position = np.arange(len(buf)) - np.repeat(starts, widths)
    parts = (buf & 0x7F).astype(np.uint64) << (7 * position).astype(np.uint64)
    raw = np.add.reduceat(parts, starts) if len(starts) else parts[:0]
    value = (raw >> np.uint64(1)).astype(np.int64) ^ -(raw & np.uint64(1)).astype(np.int64)
    which = np.searchsorted(stream_end, ends)  # the stream each varint belongs to
    step = np.where(value < 0, -value, 1)
    after = np.cumsum(step)
    first_of_stream = np.searchsorted(which, np.arange(len(streams)))
    offset = np.concatenate(([0], after))[first_of_stream][which]
    index = after - step - offset
    keep = value > 0
    return which[keep], index[keep], value[keep]


def _add_foreign(total: np.ndarray, blob: str) -> tuple[int, tuple[int, int] | None]:
    """A blob in another configuration: hdrh re-records each bucket into ours."""
    other = HdrHistogram.decode(blob)
    ours = new_histogram()
    ours.add(other)
    found = counts(ours).astype(np.int64)
    total += found
    nonzero = np.flatnonzero(found)
    span = (int(nonzero[0]), int(nonzero[-1])) if nonzero.size else None
    return int(ours.get_total_count()), span


def new_counts() -> np.ndarray:
    """An empty counts array in the project's configuration."""
    return np.zeros(COUNTS_LEN, dtype=np.int64)


def percentiles_from_counts(bucket_counts: np.ndarray, pcts: tuple[float, ...]) -> list[int]:
    """Values (us) at each percentile, exactly as hdrh's `get_value_at_percentile`.

    The rank is round-half-up(p/100 * n), at least 1; the value is the highest value
    equivalent to the bucket holding that rank. An empty histogram gives zeros.
    """
    total = int(bucket_counts.sum())
    if total == 0:
        return [0 for _ in pcts]
    cumulative = np.cumsum(bucket_counts)
    highest = bucket_bounds_us()[1]
    ranks = [max(int(min(p, 100.0) * total / 100 + 0.5), 1) for p in pcts]
    index = np.searchsorted(cumulative, ranks, side="left")
    return [int(highest[min(i, COUNTS_LEN - 1)]) for i in index]


def stats_us(bucket_counts: np.ndarray) -> tuple[int, int, float, int]:
    """(min, max, mean, count) as hdrh reports them: lowest/highest equivalent values, and
    the mean over each bucket's middle value. Zeros for an empty histogram."""
    nonzero = np.flatnonzero(bucket_counts)
    if len(nonzero) == 0:
        return 0, 0, 0.0, 0
    lowest, highest = bucket_bounds_us()
    middle = lowest + (highest - lowest + 1) // 2
    total = int(bucket_counts.sum())
    mean = float(np.dot(bucket_counts[nonzero], middle[nonzero].astype(np.float64))) / total
    return int(lowest[nonzero[0]]), int(highest[nonzero[-1]]), mean, total
