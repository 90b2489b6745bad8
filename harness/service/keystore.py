"""The keyring's files: keys.json and revoked.json, read strictly and replaced atomically.

- `keys.json`: `{"keys": [{"kid", "secret" (base64url), "created_at", "status"}]}`, status
  active | retired | revoked.
- `revoked.json`: `{"jtis": {jti: revoked_at}}`.

Writers hold an exclusive flock on `keys.lock` and replace a file whole (temp file, fsync,
rename, mode 0600), so a reader sees the old file or the new one, never half of one, and
needs no lock. `file_signature` is what readers compare to notice a replacement.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

STATUSES = ("active", "retired", "revoked")

FileSignature = tuple[int, int, int]
"""(mtime_ns, inode, size): an atomic replacement changes the inode even within one tick."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One HMAC key. `secret` is empty once revoked, and never shown by repr."""

    kid: str
    secret: bytes = field(repr=False)
    created_at: float
    status: str

    def with_status(self, status: str) -> SigningKey:
        """The same key with another status (revoking erases the secret)."""
        secret = b"" if status == "revoked" else self.secret
        return SigningKey(self.kid, secret, self.created_at, status)


def file_signature(path: Path) -> FileSignature | None:
    """What changes when `path` is replaced; None when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size)


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path` (created 0600) for the block."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_keys(path: Path) -> list[SigningKey]:
    """The keys in `path`, oldest first; ConfigError naming the file and entry otherwise."""
    where = str(path)
    data = _read_json(path, where)
    rows = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ConfigError('expected {"keys": [...]} with at least one key', where)
    keys = []
    for i, row in enumerate(rows):
        try:
            if row["status"] not in STATUSES:
                raise ValueError(row["status"])
            secret = base64.urlsafe_b64decode(row["secret"])
            keys.append(
                SigningKey(str(row["kid"]), secret, float(row["created_at"]), row["status"])
            )
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                "expected kid, secret (base64url), created_at and status active|retired|revoked",
                f"{where}: keys[{i}]",
            ) from None
    return keys


def write_keys(path: Path, keys: list[SigningKey]) -> None:
    """Replace `path` with `keys` (hold `exclusive` while reading, changing and writing)."""
    rows = [
        {
            "kid": k.kid,
            "secret": base64.urlsafe_b64encode(k.secret).decode("ascii"),
            "created_at": k.created_at,
            "status": k.status,
        }
        for k in keys
    ]
    atomic_write_json(path, {"keys": rows})


def read_revoked(path: Path) -> dict[str, float]:
    """Revoked jtis and when they were revoked; empty when the file does not exist."""
    where = str(path)
    if not path.exists():
        return {}
    data = _read_json(path, where)
    jtis = data.get("jtis") if isinstance(data, dict) else None
    if not isinstance(jtis, dict):
        raise ConfigError('expected {"jtis": {jti: revoked_at}}', where)
    try:
        return {str(k): float(v) for k, v in jtis.items()}
    except (TypeError, ValueError):
        raise ConfigError("expected numbers as revocation times", where) from None


def write_revoked(path: Path, jtis: dict[str, float]) -> None:
    """Replace `path` with `jtis`."""
    atomic_write_json(path, {"jtis": jtis})


def atomic_write_json(path: Path, data: object) -> None:
    """Write `data` to `path` as 0600 JSON so readers see the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            json.dump(data, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_json(path: Path, where: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError("file is missing", where) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable JSON ({type(exc).__name__})", where) from None
