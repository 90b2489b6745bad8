"""JWT bearer tokens for the reference service: a keyring with `kid` rotation and revocation.

Tokens are HS256 JWTs made and checked by PyJWT (HMAC: cheap, but whoever can verify can
also sign, so keys.json is 0600 and never leaves the data dir). PyJWT's strict parsing costs
~100 us a token, so a token PyJWT accepted is remembered by its exact string; later uses
only recheck what can change (expiry, revoked kid or jti). The memo is dropped whenever
keys.json or revoked.json changes.

Keys live in the data dir shared by every server process (`keystore` reads and writes the
files): exactly one active key signs new tokens, retired keys still verify, revoked keys
never do. Each `verify` stats keys.json and revoked.json and reloads one that another
process replaced, so a rotation or revocation is in force everywhere from the next request.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from harness.errors import ConfigError
from harness.service import keystore
from harness.service.keystore import SigningKey
from harness.service.rbac import ROLES
from harness.service.shared_state import SharedGenerations

ALGORITHM = "HS256"
ISSUER = "harness-reference-service"
AUDIENCE = "harness-reference-api"
LEEWAY_S = 5
"""Clock skew tolerated on exp/nbf/iat, in seconds."""

MAX_TOKEN_TTL_S = 30 * 24 * 3600
"""Longest lifetime (exp - iat) a token may have: 30 days. Longer ones are neither issued
nor accepted, so a leaked token cannot outlive a month (harness.commands.token keeps a copy)."""

MAX_VERIFIED_TOKENS = 10_000
"""Tokens remembered after PyJWT verified them (the whole memo is dropped when full)."""

ISSUED_LOG = "issued.jsonl"
"""Append-only log in the data dir of every token `Keyring.issue` signed: one JSON line of
`jti`, `sub`, `role`, `kid`, `iat`, `exp` (never the token). A token whose jti is not in it
was not issued here: forged with a leaked key (see docs/faults.md)."""

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


class Keyring:
    """Signing keys and revocations in `data_dir`, shared by every process using it.

    Creates `keys.json` with one active key when it is missing. `clock` returns Unix
    seconds for issuing (a parameter so tests need not wait for tokens to expire).

    Every change made through a Keyring bumps a shared generation number
    (`keys.generation`, memory-mapped), which each `verify` reads without a system call;
    the files themselves are also stat'ed every `recheck_files_s`, to notice edits made
    by hand.
    """

    def __init__(
        self,
        data_dir: Path,
        clock: Callable[[], float] = time.time,
        recheck_files_s: float = 1.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.keys_path = self.data_dir / "keys.json"
        self.revoked_path = self.data_dir / "revoked.json"
        self._lock_path = self.data_dir / "keys.lock"
        self._clock = clock
        self._reload_lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._revoked: frozenset[str] = frozenset()
        self._keys_sig: keystore.FileSignature | None = None
        self._revoked_sig: keystore.FileSignature | None = None
        self._verified: dict[str, Claims] = {}
        self.recheck_files_s = recheck_files_s
        self._files_checked_at = -math.inf
        self._seen_change = -1
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create: {exc.strerror}", str(self.data_dir)) from exc
        self._changes = SharedGenerations(self.data_dir / "keys.generation", 1)
        if not self.keys_path.exists():
            with keystore.exclusive(self._lock_path):
                if not self.keys_path.exists():
                    keystore.write_keys(self.keys_path, [self._new_key()])
                    self._changes.bump(0)
        self._refresh(strict=True)

    # -- tokens -------------------------------------------------------------------------

    def issue(self, role: str, sub: str, ttl_s: float = 3600, kid: str | None = None) -> str:
        """A signed token for `role` and subject `sub`, valid for `ttl_s` seconds.

        Signed with the active key, or with `kid` (any key not revoked). Raises ValueError
        for an unknown role, a ttl outside (0, MAX_TOKEN_TTL_S] or an unusable kid.
        """
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if not 0 < ttl_s <= MAX_TOKEN_TTL_S:  # false for nan too
            raise ValueError(f"ttl_s must be in (0, {MAX_TOKEN_TTL_S}] seconds, got {ttl_s!r}")
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
        token = jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})
        self._log_issued(claims, key.kid)
        return token

    def _log_issued(self, claims: dict[str, Any], kid: str) -> None:
        """Append the token's identity to ISSUED_LOG: one O_APPEND write, so lines written
        by several processes never interleave. A token that cannot be logged is not issued."""
        record = {name: claims[name] for name in ("jti", "sub", "role", "iat", "exp")}
        line = json.dumps(record | {"kid": kid}, separators=(",", ":")) + "\n"
        fd = os.open(self.data_dir / ISSUED_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)

    def verify(self, token: str) -> Claims:
        """The claims of `token`, or TokenError(reason) when it must be refused."""
        self._refresh()
        known = self._verified.get(token)
        if known is not None:
            return self._recheck(token, known)
        claims = self._verify_with_pyjwt(token)
        if len(self._verified) >= MAX_VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _recheck(self, token: str, claims: Claims) -> Claims:
        """What can change for a token PyJWT already verified: time, revocations."""
        key = self._keys.get(claims.kid)
        if key is None or key.status == "revoked":
            self._verified.pop(token, None)
            raise TokenError("revoked_kid", "token signed by a revoked key")
        if claims.jti in self._revoked:
            self._verified.pop(token, None)
            raise TokenError("revoked_jti", "token has been revoked")
        if claims.exp <= time.time() - LEEWAY_S:  # PyJWT's own expiry rule
            self._verified.pop(token, None)
            raise TokenError("expired", "token expired")
        return claims

    def _verify_with_pyjwt(self, token: str) -> Claims:
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
        if payload["exp"] - payload["iat"] > MAX_TOKEN_TTL_S:
            raise TokenError("claims", f"token lifetime exceeds {MAX_TOKEN_TTL_S} seconds")
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
        with keystore.exclusive(self._lock_path):
            keys = keystore.read_keys(self.keys_path)
            new = self._new_key()
            updated = [k.with_status("retired") if k.status == "active" else k for k in keys]
            keystore.write_keys(self.keys_path, [*updated, new])
            self._changes.bump(0)
        self._refresh()
        return new.kid

    def revoke(self, jti: str | None = None, kid: str | None = None) -> None:
        """Refuse from now on the token `jti` and/or every token signed by key `kid`.

        Revoking the active key first rotates, so the service can still issue tokens.
        Raises ValueError for an unknown kid or when neither is given.
        """
        if jti is None and kid is None:
            raise ValueError("revoke needs a jti or a kid")
        with keystore.exclusive(self._lock_path):
            if kid is not None:
                self._revoke_kid(kid)
            if jti is not None:
                revoked = keystore.read_revoked(self.revoked_path)
                revoked.setdefault(jti, self._clock())
                keystore.write_revoked(self.revoked_path, revoked)
            self._changes.bump(0)
        self._refresh()

    def _revoke_kid(self, kid: str) -> None:
        keys = keystore.read_keys(self.keys_path)
        if kid not in {k.kid for k in keys}:
            raise ValueError(f"unknown kid {kid!r}")
        was_active = any(k.kid == kid and k.status == "active" for k in keys)
        updated = [k.with_status("revoked") if k.kid == kid else k for k in keys]
        if was_active:
            updated.append(self._new_key())
        keystore.write_keys(self.keys_path, updated)

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

    def _signing_key(self, kid: str | None) -> SigningKey:
        if kid is None:
            for key in reversed(self._keys.values()):
                if key.status == "active":
                    return key
            raise ValueError("the keyring has no active key")
        found = self._keys.get(kid)
        if found is None or found.status == "revoked":
            raise ValueError(f"kid {kid!r} is unknown or revoked")
        return found

    def _new_key(self) -> SigningKey:
        created = self._clock()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(created))
        kid = f"k{stamp}-{secrets.token_hex(3)}"
        return SigningKey(kid, secrets.token_bytes(_SECRET_BYTES), created, "active")

    # -- files --------------------------------------------------------------------------

    def _refresh(self, strict: bool = False) -> None:
        """Reload keys.json / revoked.json if another writer replaced them."""
        change = self._changes.view[0]
        now = time.monotonic()
        if change == self._seen_change and now - self._files_checked_at < self.recheck_files_s:
            return
        self._seen_change, self._files_checked_at = change, now
        keys_sig = keystore.file_signature(self.keys_path)
        revoked_sig = keystore.file_signature(self.revoked_path)
        if keys_sig == self._keys_sig and revoked_sig == self._revoked_sig:
            return
        with self._reload_lock:
            try:
                self._verified = {}
                if keys_sig != self._keys_sig:
                    self._keys = {k.kid: k for k in keystore.read_keys(self.keys_path)}
                    self._keys_sig = keys_sig
                if revoked_sig != self._revoked_sig:
                    self._revoked = frozenset(keystore.read_revoked(self.revoked_path))
                    self._revoked_sig = revoked_sig
            except ConfigError as exc:
                if strict:
                    raise
                # Keep the last good keys: a damaged file must not revive revoked tokens
                # (revocations only ever add) nor take the whole service down.
                log.error("keyring: keeping the last good keys: %s", exc)
                self._keys_sig, self._revoked_sig = keys_sig, revoked_sig
