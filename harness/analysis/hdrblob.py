"""Fast HdrHistogram blobs: encode bucket counts and add decoded blobs into numpy arrays.

Same wire format as `HdrHistogram.encode()` / `decode()` (V2, compressed, base64) and the
project's one configuration (harness.analysis.histograms), but without building an
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

from harness.analysis.histograms import (
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


class BlobDecoder:
    """Adds encoded histograms into numpy counts arrays, exactly, without copies per blob."""

    def __init__(self) -> None:
        self._scratch = np.zeros(COUNTS_LEN, dtype=np.int64)
        self._scratch_address = self._scratch.ctypes.data

    def add_into(self, total: np.ndarray, blob: str) -> int:
        """Add the blob's counts into `total` (length COUNTS_LEN); return how many it held.

        Raises ValueError for a blob that is not a valid HdrHistogram V2 encoding.
        """
        try:
            raw = base64.b64decode(blob)
            cookie, length = _EXTERNAL_HEADER.unpack_from(raw)
            if get_cookie_base(cookie) != V2_COMPRESSION_COOKIE_BASE or length != len(raw) - 8:
                raise ValueError("not an HdrHistogram V2 compressed blob")
            data = zlib.decompress(memoryview(raw)[8:])
            header = _PAYLOAD_HEADER.unpack_from(data)
            if get_cookie_base(header[0]) != V2_ENCODING_COOKIE_BASE:
                raise ValueError("not an HdrHistogram V2 payload")
            if header[2:6] != _OUR_SETTINGS:
                return _add_foreign(total, blob)
            found = pyhdrh.decode(data, 40, self._scratch_address, COUNTS_LEN, 8)
        except (binascii.Error, struct.error, zlib.error) as exc:
            raise ValueError(f"undecodable histogram: {exc}") from None
        if found["total"] == 0:
            return 0
        lo, hi = found["min_nonzero_index"], found["max_nonzero_index"] + 1
        total[lo:hi] += self._scratch[lo:hi]
        self._scratch[lo:hi] = 0
        return int(found["total"])


def _add_foreign(total: np.ndarray, blob: str) -> int:
    """A blob in another configuration: hdrh re-records each bucket into ours."""
    other = HdrHistogram.decode(blob)
    ours = new_histogram()
    ours.add(other)
    total += counts(ours).astype(np.int64)
    return int(ours.get_total_count())


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
