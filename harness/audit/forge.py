"""Forged bearer tokens for the authentication checks, made from a real token of a role.

Every forgery starts from a token the target accepts and changes exactly one thing, so a
401 can only mean the target noticed that thing:

- without a key: `alg: none` (signature dropped), a tampered payload (signature kept),
  malformed strings;
- with the target's HMAC signing key (the embedded service's keyring, or
  HARNESS_AUDIT_SIGNING_KEY for `--host`): re-signed tokens that are expired beyond the
  leeway, not yet valid, for another audience or issuer, or carry a fresh `jti` (to revoke);
- with the target's public key (HARNESS_AUDIT_PUBLIC_KEY, for RS/ES/PS targets): the
  key-confusion token, HS256 signed with that public key as the HMAC secret.

Attack tokens are built by hand where PyJWT (rightly) refuses to make them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from harness.errors import ConfigError

SIGNING_KEY_ENV = "HARNESS_AUDIT_SIGNING_KEY"
SIGNING_KID_ENV = "HARNESS_AUDIT_SIGNING_KID"
PUBLIC_KEY_ENV = "HARNESS_AUDIT_PUBLIC_KEY"
_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
SHIFT_S = 3600.0
"""How far past the leeway an expired or not-yet-valid token is set."""


@dataclass(frozen=True)
class SigningKey:
    """An HMAC key the target verifies tokens with (never written anywhere)."""

    secret: bytes = field(repr=False)
    kid: str | None = None
    algorithm: str = "HS256"


def signing_key_from_env() -> SigningKey | None:
    """The key in HARNESS_AUDIT_SIGNING_KEY (text, or `base64:` + base64url bytes) and
    HARNESS_AUDIT_SIGNING_KID, or None when unset."""
    secret = os.environ.get(SIGNING_KEY_ENV)
    if not secret:
        return None
    raw = secret.encode()
    if secret.startswith("base64:"):  # a binary key, e.g. the reference keyring's
        try:
            raw = base64.urlsafe_b64decode(secret[7:] + "=" * (-len(secret[7:]) % 4))
        except ValueError:
            raise ConfigError("expected base64url after 'base64:'", SIGNING_KEY_ENV) from None
    return SigningKey(raw, os.environ.get(SIGNING_KID_ENV) or None)


def signing_key_from_keyring(data_dir: Path) -> SigningKey:
    """The active key of a reference service's keyring in `data_dir`."""
    from harness.service import keystore

    keys = keystore.read_keys(data_dir / "keys.json")
    active = [k for k in keys if k.status == "active"]
    if not active:
        raise ConfigError("the keyring has no active key", str(data_dir / "keys.json"))
    return SigningKey(active[-1].secret, active[-1].kid)


def public_key_from_env() -> bytes | None:
    """The PEM in HARNESS_AUDIT_PUBLIC_KEY (its text, or a file holding it), or None."""
    value = os.environ.get(PUBLIC_KEY_ENV)
    if not value:
        return None
    if "BEGIN" not in value:
        try:
            value = Path(value).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", PUBLIC_KEY_ENV) from None
    return value.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _segment(obj: Mapping[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


class Forger:
    """Makes variants of `token` (see the module docstring)."""

    def __init__(
        self,
        token: str,
        key: SigningKey | None,
        public_key: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            self.header = dict(jwt.get_unverified_header(token))
            self.claims = dict(jwt.decode(token, options={"verify_signature": False}))
        except jwt.PyJWTError:
            raise ConfigError("the role's token is not a JWT; API2 checks need one") from None
        self.token = token
        self.key = key
        self.public_key = public_key
        self.clock = clock

    @property
    def asymmetric(self) -> bool:
        """True when the target signs with a public-key algorithm (RS/ES/PS/EdDSA)."""
        return not str(self.header.get("alg", "")).startswith("HS")

    def alg_none(self) -> str:
        """The same claims, header `alg: none`, no signature."""
        header = {**self.header, "alg": "none"}
        return f"{_segment(header)}.{_segment(self.claims)}."

    def tampered(self) -> str:
        """The payload changed (a higher role, or another subject), the signature kept."""
        claims = dict(self.claims)
        if "role" in claims:
            claims["role"] = "admin" if claims["role"] != "admin" else "root"
        else:
            claims["sub"] = f"{claims.get('sub', '')}-audit"
        head, _payload, signature = self.token.split(".")
        return f"{head}.{_segment(claims)}.{signature}"

    def key_confusion(self) -> str | None:
        """HS256 signed with the target's public key as the HMAC secret (None without one)."""
        if self.public_key is None or not self.asymmetric:
            return None
        header = {**self.header, "alg": "HS256"}
        signing_input = f"{_segment(header)}.{_segment(self.claims)}"
        digest = hmac.new(self.public_key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(digest)}"

    def resigned(self, **changes: Any) -> str | None:
        """The claims with `changes` (None deletes one), signed with the key (None without)."""
        if self.key is None:
            return None
        claims = {**self.claims, **changes}
        claims = {k: v for k, v in claims.items() if v is not None}
        header = {k: v for k, v in self.header.items() if k not in ("alg", "typ")}
        if self.key.kid is not None:
            header["kid"] = self.key.kid
        return jwt.encode(claims, self.key.secret, algorithm=self.key.algorithm, headers=header)

    def fresh(self) -> str | None:
        """A valid token like the original but with a new `jti` and times (to revoke)."""
        now = int(self.clock())
        lifetime = int(self.claims.get("exp", now + 600)) - int(self.claims.get("iat", now))
        return self.resigned(
            jti=f"audit-{secrets.token_hex(8)}",
            iat=now,
            nbf=now if "nbf" in self.claims else None,
            exp=now + max(lifetime, 300),
        )

    def expired(self, leeway_s: float) -> str | None:
        """Expired `leeway_s` + an hour ago."""
        now = self.clock()
        return self.resigned(
            exp=int(now - leeway_s - SHIFT_S), iat=int(now - leeway_s - 2 * SHIFT_S),
            nbf=int(now - leeway_s - 2 * SHIFT_S) if "nbf" in self.claims else None,
        )  # fmt: skip

    def not_yet_valid(self, leeway_s: float) -> str | None:
        """Valid only from `leeway_s` + an hour from now."""
        now = self.clock()
        start = int(now + leeway_s + SHIFT_S)
        return self.resigned(nbf=start, iat=start, exp=start + 3600)

    def other_audience(self) -> str | None:
        """For an audience the target is not."""
        return self.resigned(aud="audit-some-other-api")

    def other_issuer(self) -> str | None:
        """From an issuer the target does not trust."""
        return self.resigned(iss="https://audit.invalid/issuer")
