"""/healthz (the process answers) and /readyz (it can serve: storage included)."""

from __future__ import annotations

import falcon

from harness.service.resources.common import send_json
from harness.service.storage import Storage, StorageUnavailable


class Health:
    """GET /healthz: liveness; touches nothing but the process."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Always 200 while the process serves."""
        send_json(resp, {"status": "ok"})


class Ready:
    """GET /readyz: 200 when the database file is there and answers a real query, else 503."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Check storage now; never cached."""
        try:
            self.storage.db.check()
            last_seq = self.storage.last_seq()
        except StorageUnavailable as exc:
            body = {
                "error": "not_ready",
                "message": str(exc),
                "status": "unavailable",
                "storage": exc.code,
            }
            send_json(resp, body, falcon.HTTP_503)
            return
        send_json(resp, {"status": "ready", "storage": "ok", "last_seq": last_seq})
