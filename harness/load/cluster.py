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

Everything decoded from the wire is bounded: the body's size before JSON parsing here, then
what the body holds (`harness.load.message_checks`). See docs/load.md, "Cluster secret".
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.load.message_checks import Rejected

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
MASTER_TO_WORKER = b"m2w"
WORKER_TO_MASTER = b"w2m"


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
