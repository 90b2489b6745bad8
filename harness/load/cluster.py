"""The cluster secret: HMAC on the harness's own master/worker messages, and size limits.

Locust's master/worker channel (ZeroMQ) has no authentication: anyone who reaches the
master's port can join. The harness's own messages (`harness.load.messages`) carry what
matters, bearer tokens to the workers and recorded seconds to the master, so each of them
travels in an envelope that proves its sender holds the cluster secret:

    {"v": 1, "run": run_id, "n": counter, "body": JSON bytes, "mac": 32 bytes}

`mac` is HMAC-SHA256, keyed with the secret, over the protocol name, the direction
(master→worker or worker→master), the message type, the run id, the worker's node id, the
counter and the body. A receiver checks, before it parses the body: the MAC, the run id,
and that the counter is higher than the last one it accepted from that peer (so a recorded
message cannot be played again, nor sent to another worker or back to its sender).

The handshake: a worker's `harness_hello` has an empty run id (it does not know it yet), a
fresh random nonce and its wall-clock time; the master accepts it only with a valid MAC, a
time within `HELLO_SKEW_S` of its own and a nonce it has not seen. Its answer, the first
`harness_config`, echoes the nonce and carries the run id, which the worker adopts: so the
worker knows the configuration answers its own hello, from a master holding the secret.

Everything decoded from the wire is bounded: the body's size before JSON parsing, the
entries and names of an intervals message, and every HdrHistogram blob (its encoded size
and its decompressed size: no compression bombs). See docs/load.md, "Cluster secret".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import struct
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.load.open_model import check_arrival
from harness.rundir.cache import X_CACHE_LABELS

SECRET_ENV = "HARNESS_CLUSTER_SECRET"
SECRET_FLAG = "--cluster-secret-file"
MIN_SECRET_BYTES = 16
MAX_SECRET_FILE_BYTES = 4096
PROTOCOL = b"harness-cluster/1"
ENVELOPE_VERSION = 1
MAC_BYTES = 32
HELLO_SKEW_S = 300.0
MAX_WIRE_BYTES = 64 * 1024 * 1024
"""Largest ZeroMQ message either side accepts (Locust's own included); a peer sending a
larger one is disconnected by ZeroMQ before anything is decoded."""
MAX_BODY_BYTES = 32 * 1024 * 1024
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

MASTER_TO_WORKER = b"m2w"
WORKER_TO_MASTER = b"w2m"


class Rejected(Exception):
    """A message failed the check; the text says why (never a secret)."""


@dataclass(frozen=True)
class ClusterSecret:
    """The shared secret of one cluster; `source` says where it came from (for run.json)."""

    key: bytes = field(repr=False)
    source: str

    def env(self) -> dict[str, str]:
        """The environment that hands this secret to a local worker process."""
        return {SECRET_ENV: self.key.decode("utf-8", errors="surrogateescape")}


def generate_secret() -> ClusterSecret:
    """A fresh random secret for one run's local workers."""
    return ClusterSecret(secrets.token_hex(32).encode(), "generated")


def load_secret(
    path: Path | None, environ: Mapping[str, str] | None = None
) -> ClusterSecret | None:
    """The secret from `--cluster-secret-file` (first) or HARNESS_CLUSTER_SECRET; None if
    neither is given. ConfigError for an unreadable, empty or too short secret."""
    environ = os.environ if environ is None else environ
    if path is not None:
        where = f"{SECRET_FLAG} {path}"
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_SECRET_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read the secret: {exc.strerror or exc}", where) from None
        if len(raw) > MAX_SECRET_FILE_BYTES:
            raise ConfigError(f"expected at most {MAX_SECRET_FILE_BYTES} bytes", where)
        return ClusterSecret(_checked(raw.strip(), where), "file")
    text = environ.get(SECRET_ENV)
    if text is None:
        return None
    key = text.strip().encode("utf-8", "surrogateescape")
    return ClusterSecret(_checked(key, SECRET_ENV), "environment")


def _checked(key: bytes, where: str) -> bytes:
    if not key:
        raise ConfigError("the secret is empty", where)
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"expected at least {MIN_SECRET_BYTES} bytes of secret, got {len(key)} "
            "(e.g. `head -c 32 /dev/urandom | base64 > FILE`)",
            where,
        )
    return key


def is_loopback(host: str) -> bool:
    """True for `localhost` and addresses in 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ensure_bind_allowed(host: str, secret: ClusterSecret | None, where: str) -> None:
    """ConfigError when the master would listen beyond loopback without a cluster secret."""
    if secret is None and not is_loopback(host):
        raise ConfigError(
            f"listening on {host} lets any peer join: give {SECRET_FLAG} FILE "
            f"(or set {SECRET_ENV}) on the master and on every worker",
            where,
        )


def check_cluster(
    bind_host: str, workers: int, expect_workers: int, secret: ClusterSecret | None
) -> None:
    """ConfigError when the run's cluster cannot be both safe and complete: a master beyond
    loopback without a secret, or remote workers expected without a secret to give them."""
    ensure_bind_allowed(bind_host, secret, "--master-bind")
    if expect_workers > workers and secret is None:
        raise ConfigError(
            f"remote workers need the cluster secret: give {SECRET_FLAG} FILE "
            f"(or set {SECRET_ENV}) here and to each `harness worker`",
            "--expect-workers",
        )


def _mac(key: bytes, direction: bytes, msg_type: str, run_id: str, peer: str, n: int) -> Any:
    digest = hmac.new(key, digestmod=hashlib.sha256)
    for part in (PROTOCOL, direction, msg_type.encode(), run_id.encode(), peer.encode()):
        digest.update(struct.pack(">I", len(part)))
        digest.update(part)
    digest.update(struct.pack(">Q", n))
    return digest


class Channel:
    """One side's sealing and opening of our messages (the master, or one worker).

    `peer` is always the worker's node id: the sender's on the way to the master, the
    recipient's on the way to a worker.
    """

    def __init__(self, secret: ClusterSecret, master: bool, run_id: str | None = None) -> None:
        self._key = secret.key
        self.master = master
        self.run_id = run_id
        self._counter = 0
        self._last_seen: dict[str, int] = {}
        self._nonces: set[str] = set()
        self.hello_nonce: str | None = None

    def seal(self, msg_type: str, body: Mapping[str, Any], peer: str) -> dict[str, Any]:
        """The envelope of `body` (JSON-encodable) for `peer`."""
        self._counter += 1
        raw = json.dumps(body, separators=(",", ":")).encode()
        direction = MASTER_TO_WORKER if self.master else WORKER_TO_MASTER
        run_id = self.run_id or ""
        digest = _mac(self._key, direction, msg_type, run_id, peer, self._counter)
        digest.update(raw)
        return {
            "v": ENVELOPE_VERSION,
            "run": run_id,
            "n": self._counter,
            "body": raw,
            "mac": digest.digest(),
        }

    def hello(self, peer: str, **fields: Any) -> dict[str, Any]:
        """A worker's sealed `harness_hello` with a fresh nonce and its clock."""
        self.hello_nonce = secrets.token_hex(16)
        body = {"nonce": self.hello_nonce, "t": time.time(), **fields}
        from harness.load.messages import HELLO

        return self.seal(HELLO, body, peer)

    def open(self, msg_type: str, data: Any, peer: str) -> dict[str, Any]:
        """The body of a received envelope; Rejected when any check fails."""
        run_id, n, raw, mac = _envelope(data)
        direction = WORKER_TO_MASTER if self.master else MASTER_TO_WORKER
        digest = _mac(self._key, direction, msg_type, run_id, peer, n)
        digest.update(raw)
        if not hmac.compare_digest(digest.digest(), mac):
            raise Rejected("bad MAC (no cluster secret, or another one)")
        body = _json_object(raw)
        if self.master:
            self._check_from_worker(msg_type, run_id, n, peer, body)
        else:
            self._check_from_master(msg_type, run_id, n, peer, body)
        self._last_seen[peer] = n
        return body

    def _check_from_worker(
        self, msg_type: str, run_id: str, n: int, peer: str, body: dict[str, Any]
    ) -> None:
        from harness.load.messages import HELLO

        if msg_type == HELLO:
            if run_id:
                raise Rejected("a hello names no run")
            t, nonce = body.get("t"), body.get("nonce")
            if not isinstance(t, int | float) or abs(time.time() - t) > HELLO_SKEW_S:
                raise Rejected(f"hello clock more than {HELLO_SKEW_S:g}s off (replayed?)")
            if not isinstance(nonce, str) or len(nonce) > 64 or nonce in self._nonces:
                raise Rejected("hello nonce already seen (replayed)")
            self._nonces.add(nonce)
            return
        if peer not in self._last_seen:
            raise Rejected("no hello from this worker yet")
        self._check_order(run_id, n, peer)

    def _check_from_master(
        self, msg_type: str, run_id: str, n: int, peer: str, body: dict[str, Any]
    ) -> None:
        from harness.load.messages import CONFIG

        if self.run_id is None:
            if msg_type != CONFIG or self.hello_nonce is None:
                raise Rejected("no configuration from the master yet")
            if body.get("nonce") != self.hello_nonce:
                raise Rejected("configuration does not answer this worker's hello (replayed?)")
            if not run_id:
                raise Rejected("configuration names no run")
            self.run_id = run_id
            return
        self._check_order(run_id, n, peer)

    def _check_order(self, run_id: str, n: int, peer: str) -> None:
        if run_id != self.run_id:
            raise Rejected(f"message of another run ({run_id[:64]!r})")
        if n <= self._last_seen.get(peer, 0):
            raise Rejected(f"counter {n} not above {self._last_seen.get(peer, 0)} (replayed)")


def _envelope(data: Any) -> tuple[str, int, bytes, bytes]:
    if not isinstance(data, dict) or data.get("v") != ENVELOPE_VERSION:
        raise Rejected("not a harness envelope")
    run_id, n, raw, mac = data.get("run"), data.get("n"), data.get("body"), data.get("mac")
    if not isinstance(run_id, str) or len(run_id) > 256:
        raise Rejected("bad run id")
    if not isinstance(n, int) or isinstance(n, bool) or not 0 < n < 2**63:
        raise Rejected("bad counter")
    if not isinstance(raw, bytes) or len(raw) > MAX_BODY_BYTES:
        raise Rejected(f"body missing or over {MAX_BODY_BYTES} bytes")
    if not isinstance(mac, bytes) or len(mac) != MAC_BYTES:
        raise Rejected("bad MAC field")
    return run_id, n, raw, mac


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise Rejected("body is not JSON") from None
    if not isinstance(body, dict):
        raise Rejected("body is not a JSON object")
    return body


# -- what an intervals or config body may hold ---------------------------------------------


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
