"""What a harness message body may hold: well formed, and every part within its limit.

A body is checked after its envelope (`harness.load.cluster`) proved who sent it, and
before anything uses it: the entries and names of an intervals message, its ledger, cache,
memory and CPU records, every HdrHistogram blob (its encoded size and its decompressed
size: no compression bombs), and a configuration's tokens, items and pacing. A body that
fails is `Rejected`, with a reason naming the field (never a secret).
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from collections.abc import Mapping
from typing import Any

from harness.load.open_model import check_arrival
from harness.rundir.cache import X_CACHE_LABELS

MAX_ENTRIES = 50_000
MAX_LEDGER_ENTRIES = 200_000
MAX_NAME_CHARS = 512
MAX_CACHE_RECORDS = 20_000
"""Cache records per intervals message (`cache_log.MAX_PER_MESSAGE`)."""
MAX_KEY_CHARS = 2048
MAX_ERROR_KINDS = 256
MAX_TOKENS = 64
MAX_ITEM_IDS = 1_000_000
MAX_BLOB_CHARS = 1024 * 1024
_EXTERNAL_HEADER = struct.Struct(">II")
V2_COMPRESSION_COOKIE = 0x1C849304  # hdrh.codec.V2_COMPRESSION_COOKIE_BASE
_PAYLOAD_HEADER_BYTES = 40
MAX_HDR_PAYLOAD_BYTES = _PAYLOAD_HEADER_BYTES + 9 * 24_576
"""An HdrHistogram V2 payload: 40 header bytes and at most one 9-byte varint per bucket of
the project's configuration (1 us..120 s, 3 digits: under 24,576 buckets)."""


class Rejected(Exception):
    """A message failed the check; the text says why (never a secret)."""


def check_blob(blob: Any, where: str) -> None:
    """Rejected unless `blob` is None or an HdrHistogram V2 blob within the size limits."""
    if blob is None:
        return
    if not isinstance(blob, str) or len(blob) > MAX_BLOB_CHARS:
        raise Rejected(f"{where}: histogram is not a string of at most {MAX_BLOB_CHARS} chars")
    try:
        raw = base64.b64decode(blob, validate=True)
        cookie, length = _EXTERNAL_HEADER.unpack_from(raw)
    except (binascii.Error, struct.error):
        raise Rejected(f"{where}: histogram is not base64 of a V2 blob") from None
    if cookie & ~0xF0 != V2_COMPRESSION_COOKIE or length != len(raw) - _EXTERNAL_HEADER.size:
        raise Rejected(f"{where}: histogram is not an HdrHistogram V2 compressed blob")
    inflater = zlib.decompressobj()
    try:
        payload = inflater.decompress(raw[_EXTERNAL_HEADER.size :], MAX_HDR_PAYLOAD_BYTES)
    except zlib.error:
        raise Rejected(f"{where}: histogram does not inflate") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise Rejected(f"{where}: histogram inflates beyond {MAX_HDR_PAYLOAD_BYTES} bytes")
    if len(payload) < _PAYLOAD_HEADER_BYTES:
        raise Rejected(f"{where}: histogram payload is truncated")


def _count(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53:
        raise Rejected(f"{where}: expected a count")
    return value


def _counts(value: Any, where: str) -> None:
    if not isinstance(value, list) or len(value) > 100:
        raise Rejected(f"{where}: expected a short list of counts")
    for item in value:
        _count(item, where)


def check_entry(entry: Any, index: int) -> None:
    """Rejected unless `entry` is one recorded second of one name, within the limits."""
    where = f"entries[{index}]"
    if not isinstance(entry, dict):
        raise Rejected(f"{where}: expected an object")
    t, name = entry.get("t"), entry.get("name")
    if not isinstance(t, int | float) or isinstance(t, bool) or not 0 <= t < 1e11:
        raise Rejected(f"{where}.t: expected epoch seconds")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
        raise Rejected(f"{where}.name: expected 1..{MAX_NAME_CHARS} characters")
    for key in ("requests", "failures", "bytes", "clipped"):
        _count(entry.get(key), f"{where}.{key}")
    for key in ("iterations", "dropped_iterations", "grown_users"):  # arrival-rate lines only
        _count(entry.get(key, 0), f"{where}.{key}")
    for key in ("fine_ok", "fine_fail"):
        _counts(entry.get(key), f"{where}.{key}")
    errors = entry.get("errors")
    if not isinstance(errors, dict) or len(errors) > MAX_ERROR_KINDS:
        raise Rejected(f"{where}.errors: expected at most {MAX_ERROR_KINDS} kinds")
    for kind, count in errors.items():
        if len(kind) > MAX_NAME_CHARS:
            raise Rejected(f"{where}.errors: kind too long")
        _count(count, f"{where}.errors")
    for key in ("hdr", "hdr_corrected", "hdr_fail"):
        check_blob(entry.get(key), f"{where}.{key}")


def check_intervals(body: Mapping[str, Any]) -> None:
    """Rejected unless a `harness_intervals` body is well formed and within the limits."""
    entries, ledger, through_t = body.get("entries"), body.get("ledger"), body.get("through_t")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise Rejected(f"entries: expected a list of at most {MAX_ENTRIES}")
    if not isinstance(ledger, list) or len(ledger) > MAX_LEDGER_ENTRIES:
        raise Rejected(f"ledger: expected a list of at most {MAX_LEDGER_ENTRIES}")
    if not all(isinstance(line, dict) for line in ledger):
        raise Rejected("ledger: expected objects")
    if through_t is not None and not isinstance(through_t, int | float):
        raise Rejected("through_t: expected epoch seconds")
    for index, entry in enumerate(entries):
        check_entry(entry, index)
    if "cache" in body:
        check_cache(body.get("cache"), body.get("cache_dropped"))
    memory = body.get("memory")
    if memory is not None:
        if not isinstance(memory, dict) or set(memory) != {"pid", "rss_bytes"}:
            raise Rejected("memory: expected {pid, rss_bytes}")
        _count(memory["pid"], "memory.pid")
        _count(memory["rss_bytes"], "memory.rss_bytes")
    cpu = body.get("cpu")
    if cpu is not None:
        if not isinstance(cpu, dict) or set(cpu) != {"pid", "cpu_pct", "wait_pct"}:
            raise Rejected("cpu: expected {pid, cpu_pct, wait_pct}")
        _count(cpu["pid"], "cpu.pid")
        for key in ("cpu_pct", "wait_pct"):
            value = cpu[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Rejected(f"cpu.{key}: expected a percentage")
            if not 0 <= value <= 10_000:  # several cores' worth at most
                raise Rejected(f"cpu.{key}: expected a percentage")


def check_cache(records: Any, dropped: Any) -> None:
    """Rejected unless a worker's cache records are well formed and within the limits:
    `[t_sent, t_done, name, key, x_cache, status, latency_us]` each."""
    if not isinstance(records, list) or len(records) > MAX_CACHE_RECORDS:
        raise Rejected(f"cache: expected a list of at most {MAX_CACHE_RECORDS}")
    _count(dropped, "cache_dropped")
    for index, record in enumerate(records):
        where = f"cache[{index}]"
        if not isinstance(record, list) or len(record) != 7:
            raise Rejected(f"{where}: expected 7 fields")
        sent, done, name, key, label, status, latency_us = record
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (sent, done)):
            raise Rejected(f"{where}: expected epoch seconds")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
            raise Rejected(f"{where}: name: expected 1..{MAX_NAME_CHARS} characters")
        if not isinstance(key, str) or not key.startswith("/") or len(key) > MAX_KEY_CHARS:
            raise Rejected(f"{where}: key: expected a path of at most {MAX_KEY_CHARS} characters")
        if label not in X_CACHE_LABELS:
            raise Rejected(f"{where}: x_cache: expected one of {', '.join(X_CACHE_LABELS)}")
        _count(status, f"{where}.status")
        _count(latency_us, f"{where}.latency_us")


def check_config(body: Mapping[str, Any]) -> None:
    """Rejected unless a `harness_config` body is well formed and within the limits."""
    tokens, item_ids = body.get("tokens"), body.get("item_ids")
    if not isinstance(tokens, dict) or len(tokens) > MAX_TOKENS:
        raise Rejected("tokens: expected an object")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in tokens.items()):
        raise Rejected("tokens: expected role → token strings")
    if item_ids is not None and (not isinstance(item_ids, list) or len(item_ids) > MAX_ITEM_IDS):
        raise Rejected(f"item_ids: expected at most {MAX_ITEM_IDS} ids")
    host = body.get("host")
    if host is not None and not isinstance(host, str):
        raise Rejected("host: expected a URL")
    check_pacing(body)


def check_pacing(body: Mapping[str, Any]) -> None:
    """Rejected unless `per_user_rate_per_s` is a non-negative number or null."""
    rate = body.get("per_user_rate_per_s")
    if rate is not None and (not isinstance(rate, int | float) or rate < 0):
        raise Rejected("per_user_rate_per_s: expected a rate or null")
    if (problem := check_arrival(body.get("arrival"))) is not None:
        raise Rejected(problem)
