"""The Falcon WSGI app of the reference service, routed from `rbac.ROUTES`.

`create_app()` with no argument reads its config from the environment: it is the factory
that granian's worker processes call (`harness.service.app:create_app`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import falcon

from harness.service.auth import AuthMiddleware
from harness.service.cdn import EdgeCache
from harness.service.config import ServiceConfig
from harness.service.metrics import Metrics, MetricsMiddleware
from harness.service.query_guard import QueryGuard
from harness.service.rbac import ROUTES
from harness.service.resources.admin import (
    CdnPurge,
    CdnStats,
    KeysRotate,
    Me,
    MetricsPage,
    Statements,
    TokensIssue,
    TokensRevoke,
)
from harness.service.resources.common import send_json
from harness.service.resources.content import IndexPage, OpenApiDocument, Pages, StaticFiles
from harness.service.resources.health import Health, Ready
from harness.service.resources.items import BulkItems, ItemCollection, ItemResource
from harness.service.resources.writes import Audit, WritesLookup
from harness.service.statements import StatementRouteMiddleware, StatementTimer, TimedDatabase
from harness.service.storage import Storage, StorageUnavailable
from harness.service.storage.factory import is_postgresql, open_database, prepare_database
from harness.service.tokens import Keyring

log = logging.getLogger("harness.service")


def create_app(config: ServiceConfig | None = None) -> falcon.App[falcon.Request, falcon.Response]:
    """The app over `config`'s data dir (from HARNESS_* env vars when None).

    Creates the schema and seeds if that was not done yet (`harness serve` does it once,
    before its workers start, so in a worker this is a cheap check). A worker on PostgreSQL
    skips it: a server that is down or failing over as the worker (re)starts must not stop
    it; it answers 503 until the pool reaches the server.
    """
    in_worker = config is None
    if config is None:
        config = ServiceConfig.from_env()
    if not (in_worker and is_postgresql(config.database)):
        prepare_database(config.database, config.items_db_path, config.seed_items)
    database = open_database(config.database, config.items_db_path, pool_size=config.threads)
    timer = StatementTimer(config.statements_dir)
    storage = Storage(TimedDatabase(database, timer) if config.statement_timing else database)
    keyring = Keyring(config.data_dir)
    metrics = Metrics(config.metrics_dir)
    auth = AuthMiddleware(keyring)
    edge = EdgeCache(config.cdn_dir)
    middleware: list[Any] = [NoSniff(), MetricsMiddleware(metrics), auth, QueryGuard(), edge]
    if config.statement_timing:
        middleware.append(StatementRouteMiddleware(timer))
    app = falcon.App(middleware=middleware)
    resources: dict[str, object] = {
        "/healthz": Health(),
        "/readyz": Ready(storage),
        "/openapi.json": OpenApiDocument(),
        "/static/{path}": StaticFiles(),
        "/": IndexPage(),
        "/pages/{slug}": Pages(),
        "/api/items": ItemCollection(storage, metrics),
        "/api/items/bulk": BulkItems(storage),
        "/api/items/{item_id:int}": ItemResource(storage, metrics),
        "/api/writes/lookup": WritesLookup(storage),
        "/api/me": Me(),
        "/metrics": MetricsPage(metrics, storage, edge, auth),
        "/admin/cdn/stats": CdnStats(edge),
        "/admin/cdn/purge": CdnPurge(edge),
        "/admin/keys/rotate": KeysRotate(keyring),
        "/admin/tokens/revoke": TokensRevoke(keyring),
        "/admin/tokens": TokensIssue(keyring),
        "/admin/audit": Audit(storage),
        "/admin/statements": Statements(timer, enabled=config.statement_timing),
    }
    templates = list(dict.fromkeys(route.template for route in ROUTES))
    if set(templates) != set(resources):
        raise RuntimeError(f"routes without resources: {set(templates) ^ set(resources)}")
    for template in templates:
        app.add_route(template, resources[template])
    install_error_handling(app)
    return app


class NoSniff:
    """Every answer says `X-Content-Type-Options: nosniff`, so no browser renders a JSON or
    text body as HTML (first in the middleware list: its process_response runs last)."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        """Set the header on whatever answer is going out."""
        resp.set_header("X-Content-Type-Options", "nosniff")


def install_error_handling(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Every error is JSON `{"error", "message"}`; no traceback ever reaches a client."""
    app.set_error_serializer(_serialize_error)
    app.add_error_handler(StorageUnavailable, _storage_unavailable)
    app.add_error_handler(Exception, _unexpected)


def _error_code(exc: falcon.HTTPError) -> str:
    status = str(falcon.code_to_http_status(exc.status))
    reason = status.split(" ", 1)[1] if " " in status else status
    return reason.lower().replace(" ", "_").replace("-", "_")


def _serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    body = exc.to_dict()
    if "error" not in body:
        message = exc.description or f"{exc.title} ({req.method} {req.path})"
        body = {"error": _error_code(exc), "message": message}
    resp.content_type = falcon.MEDIA_JSON
    send_json(resp, body, falcon.code_to_http_status(exc.status))


class _OncePerSecond:
    """Lets one log line through per second and counts the ones it held back, so an
    outage under load leaves a readable log rather than one line per request."""

    def __init__(self) -> None:
        self._last_s = 0.0
        self._held = 0

    def __call__(self) -> int | None:
        """None to stay quiet, else how many lines were held back since the last one."""
        now = time.monotonic()
        if now - self._last_s < 1.0:
            self._held += 1
            return None
        held, self._held, self._last_s = self._held, 0, now
        return held


_storage_log_gate = _OncePerSecond()


def _storage_unavailable(
    req: falcon.Request, resp: falcon.Response, exc: StorageUnavailable, params: Any
) -> None:
    held = _storage_log_gate()
    if held is not None:
        log.warning(
            "storage unavailable on %s %s: %s (%d more since the last line)",
            req.method,
            req.path,
            exc,
            held,
        )
    resp.set_header("Retry-After", "1")
    send_json(
        resp,
        {"error": "storage_unavailable", "message": str(exc), "storage": exc.code},
        falcon.HTTP_503,
    )


def _unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any) -> None:
    log.error("unexpected error on %s %s", req.method, req.path, exc_info=exc)
    send_json(
        resp,
        {"error": "internal_error", "message": f"internal error ({type(exc).__name__})"},
        falcon.HTTP_500,
    )
