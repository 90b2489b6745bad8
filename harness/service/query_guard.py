"""Falcon middleware that refuses query parameters a route does not declare.

Each route's parameters are the ones its OpenAPI operation lists (`openapi.OPERATIONS`), so
the spec, the app and this check cannot disagree. On a cacheable route, or one that takes
parameters, a parameter the route does not know is a 400 `unknown_parameter` naming it,
and one given twice, or holding text no storage backend can keep (a NUL), is a 400
`bad_parameter`: a typo (`limt=5`) is not silently ignored, and no client can mint new
edge-cache keys by adding parameters that change nothing (`/static/app.css?bust=N`).
Dynamic routes without parameters never read their query, so it is left alone there. Runs
after access control, so an anonymous caller still gets its 401 first, and before the edge
cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import falcon
from falcon.uri import parse_query_string

from harness.service.openapi import OPERATIONS
from harness.service.rbac import ROUTES
from harness.service.resources.common import bad_request
from harness.service.text import unstorable_text

QUERY_PARAMETERS: Mapping[tuple[str, str], frozenset[str]] = {
    key: frozenset(name for name, _, _ in operation.query) for key, operation in OPERATIONS.items()
}
"""The query parameters of each (method, URI template)."""

_IGNORES_QUERY: Mapping[tuple[str, str], bool] = {
    (route.method, route.template): route.tier == "dynamic" for route in ROUTES
}
"""Routes that never read their query and are never cached (`/healthz`, `/api/me`, ...):
a query string there changes nothing, so it is left alone, as health checkers and webhooks
that decorate URLs expect."""


class QueryGuard:
    """400 for a query parameter the route does not declare or one given twice."""

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: Any
    ) -> None:
        """Check the query string against the route's declared parameters."""
        if not req.query_string:
            return
        template = req.uri_template or ""
        known = QUERY_PARAMETERS.get((req.method, template), frozenset())
        if not known and _IGNORES_QUERY.get((req.method, template), False):
            return
        for name, value in parse_query_string(req.query_string, keep_blank=True).items():
            if name not in known:
                accepted = ", ".join(sorted(known)) or "none"
                raise bad_request(
                    "unknown_parameter",
                    f"{name}: not a parameter of {req.method} {template} (accepted: {accepted})",
                    field=name,
                )
            if isinstance(value, list):
                raise bad_request("bad_parameter", f"{name}: given more than once", field=name)
            problem = unstorable_text(value)
            if problem is not None:
                raise bad_request("bad_parameter", f"{name}: {problem[1]}", field=name)
