"""cache.jsonl and cache-policy.json: what the edge cache did with each request of a run.

One line per request that came back with an `X-Cache` header (docs/run-directory.md):

    {"t": 1764626400.123, "end_t": 1764626400.131, "name": "GET /api/items/{id}",
     "key": "/api/items/42", "tier": "api", "x_cache": "MISS", "status": 200,
     "latency_us": 8123, "dep": "item:42", "invalidates": []}

`t` is when the request was sent and `end_t` when its answer arrived; `key` is the path and
the query in one canonical spelling (the edge's cache key); `dep` names what makes a stored
answer stale (`items`: any item write; `item:42`: a write to item 42; null: only age),
`invalidates` what a successful write made stale (`*` for a purge). cache-policy.json holds
each tier's freshness windows, `{"tiers": {tier: {"fresh_s", "stale_while_revalidate_s",
"stale_if_error_s"}}, "max_records": int, "dropped": int, "key_sample_bits": int}`, so a
TTL replay needs nothing but the run directory. The file is bounded: as it fills, fewer
cache keys are kept (every request of one key in 2**key_sample_bits), and past
`max_records` lines requests are only counted in `dropped`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.rundir.fields import (
    JSONObject,
    opt_str,
    req_float,
    req_int,
    req_object,
    req_str,
    str_list,
)
from harness.rundir.files import iter_jsonl, read_json

CACHE = "cache.jsonl"
CACHE_POLICY = "cache-policy.json"
X_CACHE_LABELS = ("HIT", "STALE", "MISS", "BYPASS")


@dataclass(frozen=True)
class CacheRecord:
    """One request and what the edge cache did with it."""

    t: float
    end_t: float
    name: str
    key: str
    tier: str
    x_cache: str
    status: int
    latency_us: int
    dep: str | None = None
    invalidates: tuple[str, ...] = ()

    @property
    def cacheable(self) -> bool:
        """True when the edge looked the request up (it was not a bypass)."""
        return self.x_cache in ("HIT", "STALE", "MISS")

    @property
    def served(self) -> bool:
        """True when the answer came from the cache (fresh or stale)."""
        return self.x_cache in ("HIT", "STALE")

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = CACHE) -> CacheRecord:
        """The typed record of one decoded line (RecordError for a wrong field type)."""
        t = req_float(data, "t", where)
        return cls(
            t=t,
            end_t=req_float(data, "end_t", where, t),
            name=req_str(data, "name", where),
            key=req_str(data, "key", where),
            tier=req_str(data, "tier", where),
            x_cache=req_str(data, "x_cache", where),
            status=req_int(data, "status", where),
            latency_us=req_int(data, "latency_us", where),
            dep=opt_str(data, "dep", where),
            invalidates=str_list(data, "invalidates", where),
        )

    def to_dict(self) -> dict[str, object]:
        """The line's JSON object, in the documented field order."""
        return {
            "t": self.t,
            "end_t": self.end_t,
            "name": self.name,
            "key": self.key,
            "tier": self.tier,
            "x_cache": self.x_cache,
            "status": self.status,
            "latency_us": self.latency_us,
            "dep": self.dep,
            "invalidates": list(self.invalidates),
        }


@dataclass(frozen=True)
class TierWindows:
    """How long a tier's entries are fresh, then usable stale (seconds)."""

    fresh_s: float
    stale_while_revalidate_s: float = 0.0
    stale_if_error_s: float = 0.0


@dataclass(frozen=True)
class CachePolicy:
    """cache-policy.json: each tier's windows, the record bound and how many went over it."""

    tiers: dict[str, TierWindows]
    max_records: int
    dropped: int = 0
    key_sample_bits: int = 0
    """cache.jsonl keeps every request of one cache key in 2**bits (`in_key_sample`), and
    every request that invalidates; 0: every key."""

    @classmethod
    def from_dict(cls, data: JSONObject, where: str = CACHE_POLICY) -> CachePolicy:
        """The typed document (RecordError for a wrong field type)."""
        tiers = req_object(data, "tiers", where)
        return cls(
            tiers={
                str(name): TierWindows(
                    req_float(req_object(tiers, name, where), "fresh_s", where),
                    req_float(req_object(tiers, name, where), "stale_while_revalidate_s", where),
                    req_float(req_object(tiers, name, where), "stale_if_error_s", where),
                )
                for name in tiers
            },
            max_records=req_int(data, "max_records", where),
            dropped=req_int(data, "dropped", where),
            key_sample_bits=req_int(data, "key_sample_bits", where),
        )

    def to_dict(self) -> dict[str, object]:
        """The document's JSON object."""
        return {
            "tiers": {
                name: {
                    "fresh_s": w.fresh_s,
                    "stale_while_revalidate_s": w.stale_while_revalidate_s,
                    "stale_if_error_s": w.stale_if_error_s,
                }
                for name, w in self.tiers.items()
            },
            "max_records": self.max_records,
            "dropped": self.dropped,
            "key_sample_bits": self.key_sample_bits,
        }

    def kept(self, record: CacheRecord) -> bool:
        """True when `record` belongs to the final key sample (see `key_sample_bits`)."""
        return bool(record.invalidates) or in_key_sample(record.key, self.key_sample_bits)


def key_level(key: str) -> int:
    """How many low bits of the key's CRC-32 are zero (32 for a CRC of 0): a key is kept by
    every sample of fewer bits. CRC-32 is the same on every machine and in every process,
    unlike `hash`."""
    crc = zlib.crc32(key.encode())
    return (crc & -crc).bit_length() - 1 if crc else 32


def in_key_sample(key: str, bits: int) -> bool:
    """True when `key` is among the one in 2**bits cache keys kept."""
    return bits <= 0 or key_level(key) >= bits


def read_cache(path: Path) -> Iterator[CacheRecord]:
    """Every complete record of a cache.jsonl file (a torn last line is skipped)."""
    where = str(path)
    for line in iter_jsonl(path):
        yield CacheRecord.from_dict(line, where)


def read_cache_policy(path: Path) -> CachePolicy | None:
    """cache-policy.json, or None when the run has none."""
    if not path.is_file():
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        return None
    return CachePolicy.from_dict(data, str(path))
