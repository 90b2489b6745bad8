"""The audited target: the embedded reference service, or a URL with tokens from the env.

- embedded (no `--host`): the reference service on a free loopback port, its data in a
  temporary directory removed afterwards (its keys never reach the run directory); tokens
  for every role and the signing key come from its keyring.
- `--host URL`: checked reachable first (an unreachable host is bad input: nothing ran).
  Tokens come from HARNESS_TOKEN_<ROLE> for each role of the matrix, as for
  `harness run --host`; the signing and public keys from HARNESS_AUDIT_SIGNING_KEY and
  HARNESS_AUDIT_PUBLIC_KEY when the caller has them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.audit.config import EMBEDDED_SEED_ITEMS
from harness.audit.forge import (
    SigningKey,
    public_key_from_env,
    signing_key_from_env,
    signing_key_from_keyring,
)
from harness.errors import ConfigError

TOKEN_ENV_PREFIX = "HARNESS_TOKEN_"
TOKEN_TTL_S = 3600.0


@dataclass
class Target:
    """A target ready to audit; `stop()` undoes whatever was started."""

    url: str
    kind: str
    tokens: dict[str, str]
    signing_key: SigningKey | None
    public_key: bytes | None
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop what was started, last first; never raises."""
        while self.stoppers:
            with contextlib.suppress(Exception):
                self.stoppers.pop()()


def env_tokens(roles: tuple[str, ...]) -> dict[str, str]:
    """Tokens from HARNESS_TOKEN_<ROLE> for each of `roles` that has one."""
    found = {}
    for role in roles:
        value = os.environ.get(f"{TOKEN_ENV_PREFIX}{role.upper()}", "").strip()
        if value:
            found[role] = value
    return found


def ensure_reachable(url: str, timeout_s: float = 5.0) -> None:
    """ConfigError naming `--host` unless something accepts a TCP connection there."""
    from harness.load.launch import check_target_url

    host, port = check_target_url(url)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{url} is unreachable: {reason}", "--host") from None


def url_target(url: str, roles: tuple[str, ...]) -> Target:
    """A user's service at `url` (see the module docstring)."""
    ensure_reachable(url)
    return Target(
        url=url.rstrip("/"),
        kind="url",
        tokens=env_tokens(roles),
        signing_key=signing_key_from_env(),
        public_key=public_key_from_env(),
    )


def embedded_target(seed_items: int = EMBEDDED_SEED_ITEMS) -> Target:
    """The reference service started for this audit (see the module docstring)."""
    from harness.load.launch import EmbeddedService

    data_dir = Path(tempfile.mkdtemp(prefix="harness-audit-"))
    try:
        service = EmbeddedService(data_dir, seed_items)
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    target = Target(
        url=service.url,
        kind="embedded",
        tokens=service.tokens(TOKEN_TTL_S),
        signing_key=signing_key_from_keyring(data_dir),
        public_key=None,
    )
    target.stoppers.append(lambda: shutil.rmtree(data_dir, ignore_errors=True))
    target.stoppers.append(service.stop)
    return target
