"""Secrets kept out of run files: what a run records is redacted where it is written.

A run directory is read by people and uploaded as a CI artifact, so run.json and
events.jsonl never hold a secret a scenario or a command line carried:

- the values of a command fault's `env` and of a webhook's `headers` (the names are kept,
  so a reader still sees *which* variables and headers were set): `redact_values`;
- bearer tokens and JWTs anywhere in a string, a URL's password, and the values of URL
  query parameters whose names say they hold a secret (`token`, `key`, `password`, ...):
  `redact_text`, applied to nested JSON data by `redact_strings`.

Redacting is one way: the run's own process keeps the real values to do its work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_SCHEME_TOKEN = re.compile(r"\b(Bearer|Basic)(\s+)(?!<redacted>)[A-Za-z0-9._~+/=-]{8,}")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.I)
_SECRET_WORDS = frozenset(
    [
        "token",
        "key",
        "secret",
        "password",
        "passwd",
        "pwd",
        "auth",
        "authorization",
        "sig",
        "signature",
        "credential",
        "credentials",
        "session",
        "apikey",
        "accesstoken",
    ]
)


def _secret_name(name: str) -> bool:
    """True for query parameter names that say they hold a secret (`access_token`, `key`)."""
    lowered = name.lower()
    return lowered in _SECRET_WORDS or any(
        part in _SECRET_WORDS for part in re.split(r"[_.\-]", lowered)
    )


def redact_values(mapping: Mapping[str, Any]) -> dict[str, str]:
    """The same names, every value replaced (env variables, HTTP headers)."""
    return {str(name): REDACTED for name in mapping}


def redact_url(url: str) -> str:
    """`url` without its password and without the values of secret-named query parameters."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password and "@" in netloc:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.split(':', 1)[0]}:{REDACTED}@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(_secret_name(name) for name, _ in pairs):
                query = urlencode(
                    [(n, REDACTED if v and _secret_name(n) else v) for n, v in pairs], safe="<>"
                )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:  # not a URL after all (a bad port, say): leave it to the patterns
        return url


def redact_text(text: str) -> str:
    """`text` with URLs redacted (`redact_url`), then bearer tokens and JWTs replaced."""
    text = _URL.sub(lambda match: redact_url(match.group(0)), text)
    text = _JWT.sub(REDACTED, text)
    return _SCHEME_TOKEN.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def redact_strings(value: Any) -> Any:
    """JSON-like data with `redact_text` applied to every string in it (keys kept)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: redact_strings(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_strings(item) for item in value]
    return value


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line as run.json records it: each argument through `redact_text`."""
    return [redact_text(arg) for arg in argv]
