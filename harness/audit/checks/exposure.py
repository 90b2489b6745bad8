"""Data protection: no token, key or password the audit sent ever comes back.

Every recorded response (body and headers, every check's) is searched for each secret
the audit holds (the roles' tokens, every forged token, the signing key) and for private
key blocks. The audit's own files are checked separately, before they are written.
"""

from __future__ import annotations

import base64
import re

from harness.audit.context import AuditContext
from harness.audit.model import Category, CheckSpec, Severity

PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def key_forms(secret: bytes) -> list[str]:
    """The ways a key is usually written: base64url, base64, hex."""
    return [
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        base64.b64encode(secret).decode().rstrip("="),
        secret.hex(),
    ]


def secrets_echoed(ctx: AuditContext) -> None:
    redactor = ctx.client.redactor
    keys = key_forms(ctx.signing_key.secret) if ctx.signing_key is not None else []
    seen: set[str] = set()
    for index, reply in enumerate(list(ctx.client.history)):
        sent = redactor.sent_secrets(index)
        headers = " ".join(f"{k}: {v}" for k, v in reply.exchange.response_headers)
        placeholder = any(p in headers for p in redactor.placeholders_of(sent))
        hit = placeholder or any(s in reply.text for s in (*sent, *keys))
        key_block = PRIVATE_KEY.search(reply.text)
        if not (hit or key_block):
            continue
        path = "/" + reply.exchange.url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
        route = f"{reply.exchange.method} {ctx.index.template_of(path) or path}"
        if route in seen:
            continue
        seen.add(route)
        ctx.find(
            Severity.HIGH,
            f"{route} echoes {'a private key' if key_block else 'a secret'} ({reply.status})",
            "a response must never repeat a credential: logs, caches and browsers keep bodies.",
            reply.exchange,
        )
    ctx.measure("responses_checked", len(ctx.client.history))


CHECKS = (
    (
        CheckSpec(
            "data.secrets_echoed", Category.DATA, "No token or key is echoed in any response"
        ),
        secrets_echoed,
    ),
)
