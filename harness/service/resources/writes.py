"""The write log: POST /api/writes/lookup (which keys were written) and GET /admin/audit."""

from __future__ import annotations

import falcon

from harness.service.resources.common import (
    bad_request,
    int_param,
    invalid_field,
    read_json_object,
    send_json,
)
from harness.service.storage import Storage

MAX_LOOKUP_KEYS = 10_000
MAX_AUDIT_LIMIT = 1000


class WritesLookup:
    """POST /api/writes/lookup {"keys": [...]} -> {"found": {key: seq}, "missing": [...]}."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Look up to 10,000 idempotency keys at once."""
        body = read_json_object(req)
        keys = body.get("keys")
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise invalid_field("keys", "expected a list of strings")
        if len(keys) > MAX_LOOKUP_KEYS:
            raise invalid_field("keys", f"at most {MAX_LOOKUP_KEYS} keys, got {len(keys)}")
        unique = list(dict.fromkeys(keys))
        found = self.storage.lookup_writes(unique)
        send_json(
            resp,
            {"found": found, "missing": [key for key in unique if key not in found]},
        )


class Audit:
    """GET /admin/audit?kid=&sub=&since_seq=&limit=: writes with their actor, oldest first."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """A page of the write log; `next_since_seq` continues it."""
        since_seq = int_param(req, "since_seq", 0, 0, 2**62)
        limit = int_param(req, "limit", 100, 1, MAX_AUDIT_LIMIT)
        kid = req.get_param("kid") or None
        sub = req.get_param("sub") or None
        if kid is not None and len(kid) > 200:
            raise bad_request("bad_parameter", "kid: at most 200 characters", field="kid")
        writes = self.storage.audit(kid=kid, sub=sub, since_seq=since_seq, limit=limit)
        next_since = writes[-1]["seq"] if len(writes) == limit else None
        send_json(resp, {"writes": writes, "count": len(writes), "next_since_seq": next_since})
