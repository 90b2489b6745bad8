"""Public content: /static/{path}, the home page and /pages/{slug}."""

from __future__ import annotations

import json

import falcon

from harness.service import openapi, pages
from harness.service.resources.common import ApiError

_INDEX = pages.render_page("Reference service", pages.INDEX_BODY)
_PAGES = {slug: pages.render_page(title, body) for slug, (title, body) in pages.PAGES.items()}


class StaticFiles:
    """GET /static/{path}: a few fixed files with their content types."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, path: str) -> None:
        """The file's bytes, or 404."""
        found = pages.STATIC_FILES.get(path)
        if found is None:
            raise ApiError(falcon.HTTP_404, "not_found", f"no static file {path!r}")
        resp.content_type = found.content_type
        resp.data = found.body


class IndexPage:
    """GET /: the home page."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The page's HTML."""
        resp.content_type = falcon.MEDIA_HTML
        resp.data = _INDEX


class Pages:
    """GET /pages/{slug}: a few small HTML pages."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, slug: str) -> None:
        """The page's HTML, or 404."""
        page = _PAGES.get(slug)
        if page is None:
            raise ApiError(falcon.HTTP_404, "not_found", f"no page {slug!r}")
        resp.content_type = falcon.MEDIA_HTML
        resp.data = page


class OpenApiDocument:
    """GET /openapi.json: the OpenAPI 3.1 description, built once from the route table."""

    def __init__(self) -> None:
        self._body = json.dumps(openapi.build_spec(), separators=(",", ":"))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The spec as JSON."""
        resp.content_type = falcon.MEDIA_JSON
        resp.text = self._body
