"""JWT bearer tokens for the reference service: a keyring with `kid` rotation and revocation.

Tokens are HS256 JWTs made and checked by PyJWT. HMAC keeps verification to a few
microseconds, which the write benchmark needs; the cost is that whoever can verify can also
sign, so keys.json is 0600 and never leaves the data dir.

Files in the data dir (shared by every server process on it):
- `keys.json`: `{"keys": [{"kid", "secret", "created_at", "status"}]}`, status
  active | retired | revoked; exactly one active key signs new tokens, retired keys still
  verify, revoked keys never do (their secret is erased).
- `revoked.json`: `{"jtis": {jti: revoked_at}}`, tokens refused one by one.

Both are replaced atomically (write to a temp file, fsync, rename); writers serialise on an
flock of `keys.lock`. Readers take no lock: each `verify` stats both files and reloads one
whose (mtime, inode, size) changed, so a rotation or revocation made by another process is
seen on the next request.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from harness.errors import ConfigError
from harness.service.rbac import ROLES

ALGORITHM = "HS256"
ISSUER = "harness-reference-service"
AUDIENCE = "harness-reference-api"
LEEWAY_S = 5
"""Clock skew tolerated on exp/nbf/iat, in seconds."""

_REQUIRED = ["exp", "iat", "nbf", "sub", "jti", "iss", "aud"]
_SECRET_BYTES = 32
log = logging.getLogger(__name__)


class TokenError(Exception):
    """A token was refused. `reason` is a short machine code, the message is for humans.

    Neither ever contains the token or a secret.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


TOKEN_ERROR_REASONS: tuple[str, ...] = (
    "missing",
    "malformed",
    "algorithm",
    "unknown_kid",
    "revoked_kid",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "audience",
    "issuer",
    "claims",
    "revoked_jti",
)
"""Every `TokenError.reason` (auth counters keep one slot each)."""


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified claims of a token, plus the `kid` that signed it."""

    sub: str
    role: str
    kid: str
    jti: str
    iat: int
    nbf: int
    exp: int


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Public facts about a signing key (never its secret)."""

    kid: str
    created_at: float
    status: str


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str
    secret: bytes
    created_at: float
    status: str


_FileSig = tuple[int, int, int]


class Keyring:
    """Signing keys and revocations in `data_dir`, shared by every process using it.

    Creates `keys.json` with one active key when it is missing. `clock` returns Unix
    seconds (a parameter so tests need not wait for tokens to expire).
    """

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.data_dir = Path(data_dir)
        self.keys_path = self.data_dir / "keys.json"
        self.revoked_path = self.data_dir / "revoked.json"
        self._lock_path = self.data_dir / "keys.lock"
        self._clock = clock
        self._reload_lock = threading.Lock()
        self._keys: dict[str, _Key] = {}
        self._revoked: frozenset[str] = frozenset()
        self._keys_sig: _FileSig | None = None
        self._revoked_sig: _FileSig | None = None
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create: {exc.strerror}", str(self.data_dir)) from exc
        if not self.keys_path.exists():
            with self._writing():
                if not self.keys_path.exists():
                    self._write_keys([self._new_key()])
        self._refresh(strict=True)

    # -- tokens -------------------------------------------------------------------------

    def issue(self, role: str, sub: str, ttl_s: float = 3600, kid: str | None = None) -> str:
        """A signed token for `role` and subject `sub`, valid for `ttl_s` seconds.

        Signed with the active key, or with `kid` (any key not revoked). Raises ValueError
        for an unknown role, a non-positive ttl or an unusable kid.
        """
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s!r}")
        self._refresh()
        key = self._signing_key(kid)
        now = int(self._clock())
        claims = {
            "sub": sub,
            "role": role,
            "iat": now,
            "nbf": now,
            "exp": now + max(1, round(ttl_s)),
            "jti": secrets.token_urlsafe(12),
            "iss": ISSUER,
            "aud": AUDIENCE,
        }
        return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str) -> Claims:
        """The claims of `token`, or TokenError(reason) when it must be refused."""
        self._refresh()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed", "token is not a well-formed JWT") from None
        if header.get("alg") != ALGORITHM:
            raise TokenError("algorithm", f"token algorithm must be {ALGORITHM}")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenError("unknown_kid", "token signed by an unknown key")
        if key.status == "revoked":
            raise TokenError("revoked_kid", "token signed by a revoked key")
        payload = self._decode(token, key.secret)
        jti = payload["jti"]
        if jti in self._revoked:
            raise TokenError("revoked_jti", "token has been revoked")
        role, sub = payload.get("role"), payload["sub"]
        if role not in ROLES or not isinstance(sub, str) or not isinstance(jti, str):
            raise TokenError("claims", "token claims are invalid")
        return Claims(
            sub=sub,
            role=role,
            kid=key.kid,
            jti=jti,
            iat=int(payload["iat"]),
            nbf=int(payload["nbf"]),
            exp=int(payload["exp"]),
        )

    def _decode(self, token: str, secret: bytes) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_S,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("expired", "token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("not_yet_valid", "token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise TokenError("audience", "token audience is wrong") from None
        except jwt.InvalidIssuerError:
            raise TokenError("issuer", "token issuer is wrong") from None
        except jwt.InvalidSignatureError:
            raise TokenError("bad_signature", "token signature does not verify") from None
        except jwt.InvalidAlgorithmError:
            raise TokenError("algorithm", f"token algorithm must be {ALGORITHM}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError("claims", f"token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise TokenError("malformed", "token is not a well-formed JWT") from None

    # -- keys ---------------------------------------------------------------------------

    def rotate(self) -> str:
        """Add a new active key and retire the previous active one; returns the new kid.

        Tokens signed by retired keys keep verifying until those keys are revoked.
        """
        with self._writing():
            keys = self._read_keys_file()
            new = self._new_key()
            updated = [_retired(k) if k.status == "active" else k for k in keys]
            self._write_keys([*updated, new])
        self._refresh()
        return new.kid

    def revoke(self, jti: str | None = None, kid: str | None = None) -> None:
        """Refuse from now on the token `jti` and/or every token signed by key `kid`.

        Revoking the active key first rotates, so the service can still issue tokens.
        Raises ValueError for an unknown kid or when neither is given.
        """
        if jti is None and kid is None:
            raise ValueError("revoke needs a jti or a kid")
        with self._writing():
            if kid is not None:
                self._revoke_kid(kid)
            if jti is not None:
                revoked = self._read_revoked_file()
                revoked.setdefault(jti, self._clock())
                _atomic_write_json(self.revoked_path, {"jtis": revoked})
        self._refresh()

    def _revoke_kid(self, kid: str) -> None:
        keys = self._read_keys_file()
        if kid not in {k.kid for k in keys}:
            raise ValueError(f"unknown kid {kid!r}")
        was_active = any(k.kid == kid and k.status == "active" for k in keys)
        updated = [_Key(k.kid, b"", k.created_at, "revoked") if k.kid == kid else k for k in keys]
        if was_active:
            updated.append(self._new_key())
        self._write_keys(updated)

    def active_kid(self) -> str:
        """The kid that signs new tokens."""
        self._refresh()
        return self._signing_key(None).kid

    def key_info(self) -> list[KeyInfo]:
        """Every key's kid, creation time and status, oldest first (no secrets)."""
        self._refresh()
        return [KeyInfo(k.kid, k.created_at, k.status) for k in self._keys.values()]

    def revoked_jtis(self) -> frozenset[str]:
        """The jtis refused one by one."""
        self._refresh()
        return self._revoked

    def _signing_key(self, kid: str | None) -> _Key:
        if kid is None:
            for key in reversed(self._keys.values()):
                if key.status == "active":
                    return key
            raise ValueError("the keyring has no active key")
        found = self._keys.get(kid)
        if found is None or found.status == "revoked":
            raise ValueError(f"kid {kid!r} is unknown or revoked")
        return found

    def _new_key(self) -> _Key:
        created = self._clock()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(created))
        kid = f"k{stamp}-{secrets.token_hex(3)}"
        return _Key(kid, secrets.token_bytes(_SECRET_BYTES), created, "active")

    # -- files --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _refresh(self, strict: bool = False) -> None:
        """Reload keys.json / revoked.json if another writer replaced them."""
        keys_sig, revoked_sig = _file_sig(self.keys_path), _file_sig(self.revoked_path)
        if keys_sig == self._keys_sig and revoked_sig == self._revoked_sig:
            return
        with self._reload_lock:
            try:
                if keys_sig != self._keys_sig:
                    self._keys = {k.kid: k for k in self._read_keys_file()}
                    self._keys_sig = keys_sig
                if revoked_sig != self._revoked_sig:
                    self._revoked = frozenset(self._read_revoked_file())
                    self._revoked_sig = revoked_sig
            except ConfigError as exc:
                if strict:
                    raise
                # Keep the last good keys: a damaged file must not revive revoked tokens
                # (revocations only ever add) nor take the whole service down.
                log.error("keyring: keeping the last good keys: %s", exc)
                self._keys_sig, self._revoked_sig = keys_sig, revoked_sig

    def _read_keys_file(self) -> list[_Key]:
        where = str(self.keys_path)
        data = _read_json(self.keys_path, where)
        rows = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not rows:
            raise ConfigError('expected {"keys": [...]} with at least one key', where)
        keys = []
        for i, row in enumerate(rows):
            try:
                status = row["status"]
                if status not in ("active", "retired", "revoked"):
                    raise ValueError(status)
                keys.append(
                    _Key(
                        kid=str(row["kid"]),
                        secret=base64.urlsafe_b64decode(row["secret"]),
                        created_at=float(row["created_at"]),
                        status=status,
                    )
                )
            except (KeyError, TypeError, ValueError):
                raise ConfigError(
                    "expected kid, secret (base64url), created_at and status "
                    "active|retired|revoked",
                    f"{where}: keys[{i}]",
                ) from None
        return keys

    def _read_revoked_file(self) -> dict[str, float]:
        where = str(self.revoked_path)
        if not self.revoked_path.exists():
            return {}
        data = _read_json(self.revoked_path, where)
        jtis = data.get("jtis") if isinstance(data, dict) else None
        if not isinstance(jtis, dict):
            raise ConfigError('expected {"jtis": {jti: revoked_at}}', where)
        return {str(k): float(v) for k, v in jtis.items()}

    def _write_keys(self, keys: list[_Key]) -> None:
        rows = [
            {
                "kid": k.kid,
                "secret": base64.urlsafe_b64encode(k.secret).decode("ascii"),
                "created_at": k.created_at,
                "status": k.status,
            }
            for k in keys
        ]
        _atomic_write_json(self.keys_path, {"keys": rows})


def _retired(key: _Key) -> _Key:
    return _Key(key.kid, key.secret, key.created_at, "retired")


def _file_sig(path: Path) -> _FileSig | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size)


def _read_json(path: Path, where: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError("file is missing", where) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable JSON ({type(exc).__name__})", where) from None


def _atomic_write_json(path: Path, data: object) -> None:
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
