"""`harness token`: print a signed bearer token that a service on the same data dir accepts."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from harness.durations import parse_duration_s
from harness.errors import ConfigError

_ROLES = ("admin", "service", "user", "viewer")  # checked against rbac.ROLES in tests
MAX_TTL_S = 30 * 24 * 3600  # tokens.MAX_TOKEN_TTL_S, checked in tests; kept here so the
# command's parsing imports neither PyJWT nor the service


@dataclass(frozen=True)
class TokenRequest:
    """What `harness token` was asked for."""

    role: str
    sub: str
    ttl_s: float
    data_dir: Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `harness token`."""
    parser.add_argument("--role", required=True, help=f"one of {', '.join(_ROLES)}")
    parser.add_argument(
        "--sub", default=None, help="subject (who the token names); default cli-ROLE"
    )
    parser.add_argument(
        "--ttl",
        default="3600",
        help=f"lifetime: seconds or a duration such as 1h (default 3600, at most {MAX_TTL_S})",
    )
    parser.add_argument(
        "--data-dir",
        default="data",
        type=Path,
        help="the service's data dir holding keys.json (default ./data; created if missing)",
    )


def build_request(args: argparse.Namespace) -> TokenRequest:
    """Validate the flags into a TokenRequest (ConfigError naming the flag otherwise)."""
    if args.role not in _ROLES:
        raise ConfigError(f"expected one of {', '.join(_ROLES)}, got {args.role!r}", "--role")
    sub = args.sub if args.sub is not None else f"cli-{args.role}"
    if not sub.strip():
        raise ConfigError("expected a non-empty subject", "--sub")
    ttl_s = parse_duration_s(args.ttl, "--ttl")
    if ttl_s > MAX_TTL_S:
        raise ConfigError(f"at most {MAX_TTL_S} seconds (30 days), got {args.ttl!r}", "--ttl")
    return TokenRequest(role=args.role, sub=sub, ttl_s=ttl_s, data_dir=args.data_dir)


def execute(args: argparse.Namespace) -> int:
    """Print the token on stdout; exit 0."""
    request = build_request(args)
    from harness.service.tokens import Keyring

    keyring = Keyring(request.data_dir)
    print(keyring.issue(request.role, request.sub, ttl_s=request.ttl_s))
    return 0
