"""The audit's HTTP client: every request bounded, timed, recorded and redacted.

`AuditClient.send` returns a `Reply`: the `Exchange` for the report (secrets replaced by
placeholders, bodies cut to an excerpt) and the raw response text, which stays in memory
for checks that scan responses (echoed tokens, stack traces) and is never written out.
Every request counts against `max_requests` and the audit's deadline, so no loop of the
audit can run away; the target failing to answer at all is `RunFailed`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import requests

from harness.audit.model import Exchange
from harness.errors import RunFailed

EXCERPT_CHARS = 1500
KEPT_BODY_CHARS = 256 * 1024
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_NO_BODY = object()


class Redactor:
    """Replaces every registered secret, and anything shaped like a JWT, by a placeholder."""

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._since: dict[str, int] = {}
        self.replies_seen = 0
        """How many replies were recorded so far (the client keeps it current)."""

    def add(self, secret: str, label: str) -> None:
        """Redact `secret` as `<label>` from now on (secrets under 8 characters are kept; a
        secret already known keeps its first label: a re-signed copy of a role's token may
        be byte for byte that token)."""
        if len(secret) >= 8:
            self._secrets.setdefault(secret, f"<{label}>")
            self._since.setdefault(secret, self.replies_seen)

    def sent_secrets(self, reply_index: int) -> tuple[str, ...]:
        """The secrets known before reply number `reply_index` was recorded: an answer can
        echo only those (a token the target issued first appears in its own answer)."""
        return tuple(s for s, since in self._since.items() if since <= reply_index)

    def placeholders_of(self, secrets: tuple[str, ...]) -> tuple[str, ...]:
        """The placeholders of `secrets`."""
        return tuple(self._secrets[s] for s in secrets)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every registered secret (for scanning responses and the audit's own files)."""
        return tuple(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, self._secrets[secret])
        return _JWT.sub("<jwt>", text)


@dataclass(frozen=True)
class Reply:
    """A response: the redacted `exchange`, and the raw text (kept in memory only)."""

    exchange: Exchange
    text: str
    role: str | None

    @property
    def status(self) -> int | None:
        """The HTTP status, or None when the request got no response."""
        return self.exchange.status

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None


class AuditClient:
    """Sends the audit's requests to `base_url` (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        redactor: Redactor,
        *,
        timeout_s: float = 10.0,
        max_requests: int = 20_000,
        deadline_s: float = 600.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.redactor = redactor
        self.timeout_s = timeout_s
        self.max_requests = max_requests
        self.deadline = time.monotonic() + deadline_s
        self.session = requests.Session()
        self.history: list[Reply] = []
        self.sent = 0
        self._consecutive_failures = 0

    def url(self, path: str) -> str:
        """The absolute URL of `path` on the target."""
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        role: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Any = _NO_BODY,
        data: bytes | None = None,
        record: bool = True,
        curl_override: str | None = None,
    ) -> Reply:
        """One request; a fresh Idempotency-Key on writes, `Bearer token` when given."""
        self._check_budget()
        if json_body is not _NO_BODY:
            data = json.dumps(json_body).encode()
        all_headers = _headers(method, token, json_body is not _NO_BODY, headers)
        request = requests.Request(method, self.url(path), headers=all_headers, params=params)
        prepared = self.session.prepare_request(request)
        if data is not None:
            prepared.prepare_body(data, None)
        self.sent += 1
        start = time.perf_counter()
        try:
            response = self.session.send(prepared, timeout=self.timeout_s, allow_redirects=False)
            text = response.content[:KEPT_BODY_CHARS].decode("utf-8", errors="replace")
            status: int | None = response.status_code
            response_headers = tuple(response.headers.items())
            error = None
            self._consecutive_failures = 0
        except requests.RequestException as exc:
            text, status, response_headers = "", None, ()
            error = f"{type(exc).__name__}: {_first_line(str(exc))}"
            self._consecutive_failures += 1
            if self._consecutive_failures >= 20:
                raise RunFailed(f"the target stopped answering: {error}") from None
        latency_ms = (time.perf_counter() - start) * 1000.0
        exchange = self._exchange(prepared, status, response_headers, text, latency_ms, error)
        if curl_override is not None:
            exchange = _with_curl(exchange, self.redactor(curl_override))
        reply = Reply(exchange, text, role)
        if record:
            self.record(reply)
        return reply

    def record(self, reply: Reply) -> None:
        """Keep `reply` for the checks that read every answer."""
        self.history.append(reply)
        self.redactor.replies_seen = len(self.history)

    def _exchange(
        self,
        prepared: requests.PreparedRequest,
        status: int | None,
        response_headers: tuple[tuple[str, str], ...],
        text: str,
        latency_ms: float,
        error: str | None,
    ) -> Exchange:
        redact = self.redactor
        body = cast(str | bytes | None, prepared.body)
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
        if body is not None and len(body) > EXCERPT_CHARS:
            body = f"{body[:200]}… ({len(body):,} characters)"
        url = str(prepared.url)
        if len(url) > EXCERPT_CHARS:
            url = f"{url[:300]}… ({len(url):,} characters)"
        return Exchange(
            method=str(prepared.method),
            url=redact(url),
            request_headers=tuple(
                (k, redact(str(v)))
                for k, v in prepared.headers.items()
                if k.lower()
                not in ("user-agent", "accept-encoding", "connection", "content-length")
            ),
            request_body=redact(str(body)) if body is not None else None,
            status=status,
            response_headers=tuple((k, redact(v)) for k, v in response_headers),
            response_body=redact(text[:EXCERPT_CHARS]),
            latency_ms=latency_ms,
            error=error,
        )

    def count_request(self) -> None:
        """Count a request sent by another client (schemathesis's) against the bounds."""
        self._check_budget()
        self.sent += 1

    def _check_budget(self) -> None:
        if self.sent >= self.max_requests:
            raise RunFailed(f"the audit reached its bound of {self.max_requests} requests")
        if time.monotonic() > self.deadline:
            raise RunFailed("the audit ran past its time bound")

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()


def _headers(
    method: str, token: str | None, is_json: bool, extra: Mapping[str, str] | None
) -> dict[str, str]:
    """A request's headers: JSON accepted, a fresh Idempotency-Key on writes, the bearer."""
    headers = {"Accept": "application/json"}
    if method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
        headers["Idempotency-Key"] = f"audit-{uuid.uuid4().hex}"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if is_json:
        headers["Content-Type"] = "application/json"
    headers.update(extra or {})
    return headers


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def _with_curl(exchange: Exchange, curl: str) -> Exchange:
    from dataclasses import replace

    return replace(exchange, curl_override=curl)
