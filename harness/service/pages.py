"""The service's static files and small HTML pages: fixed bytes, so caching can be checked.

They exist to give the edge cache's static and html tiers real content of realistic size
and types to serve; every byte is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class StaticFile:
    """One file under /static/: its content type and bytes."""

    content_type: str
    body: bytes


APP_CSS = """\
:root { --ink: #1d2433; --accent: #2f6fde; --paper: #fbfbfd; --muted: #6b7385; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--ink);
       background: var(--paper); }
header { display: flex; align-items: center; gap: 12px; padding: 12px 24px;
         border-bottom: 1px solid #e3e6ee; }
header img { width: 32px; height: 32px; }
nav a { margin-right: 16px; color: var(--accent); text-decoration: none; }
main { max-width: 860px; margin: 0 auto; padding: 24px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #eceef4; }
.muted { color: var(--muted); }
footer { padding: 24px; text-align: center; color: var(--muted); font-size: 14px; }
"""

APP_JS = """\
// Loads the first page of items into the catalog table when a token is stored.
(function () {
  "use strict";
  const table = document.querySelector("#items tbody");
  const token = window.localStorage.getItem("harness-token");
  if (!table || !token) { return; }
  fetch("/api/items?limit=20&sort=-created_at", { headers: { Authorization: "Bearer " + token } })
    .then(function (response) { return response.ok ? response.json() : { items: [] }; })
    .then(function (page) {
      page.items.forEach(function (item) {
        const row = document.createElement("tr");
        [item.id, item.name, item.category, item.price.toFixed(2), item.status].forEach(
          function (value) {
            const cell = document.createElement("td");
            cell.textContent = String(value);
            row.appendChild(cell);
          });
        table.appendChild(row);
      });
    });
})();
"""

LOGO_SVG = """\
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" role="img" aria-label="harness">
  <rect x="2" y="2" width="60" height="60" rx="12" fill="#2f6fde"/>
  <path d="M14 44 L24 28 L32 36 L42 18 L50 30" fill="none" stroke="#fff" stroke-width="5"
        stroke-linecap="round" stroke-linejoin="round"/>
</svg>
"""

STATIC_FILES: dict[str, StaticFile] = {
    "app.css": StaticFile("text/css; charset=utf-8", APP_CSS.encode()),
    "app.js": StaticFile("text/javascript; charset=utf-8", APP_JS.encode()),
    "logo.svg": StaticFile("image/svg+xml", LOGO_SVG.encode()),
}

PAGES: dict[str, tuple[str, str]] = {
    "about": (
        "About",
        "<p>This is the reference service of the load-and-resilience harness: a small "
        "catalog API with an edge cache, role-based access and durable, idempotent writes.</p>",
    ),
    "catalog": (
        "Catalog",
        '<p class="muted">Store a token as <code>harness-token</code> in local storage to load '
        'items.</p><table id="items"><thead><tr><th>id</th><th>name</th><th>category</th>'
        "<th>price</th><th>status</th></tr></thead><tbody></tbody></table>",
    ),
    "pricing": (
        "Pricing",
        "<table><tr><th>plan</th><th>requests per second</th></tr>"
        "<tr><td>Light</td><td>50</td></tr><tr><td>Moderate</td><td>500</td></tr>"
        "<tr><td>Heavy</td><td>2,000</td></tr><tr><td>Extreme</td><td>until it breaks</td></tr>"
        "</table>",
    ),
    "status": (
        "Status",
        '<p>Liveness: <a href="/healthz">/healthz</a>. Readiness, storage included: '
        '<a href="/readyz">/readyz</a>. API description: <a href="/openapi.json">'
        "/openapi.json</a>.</p>",
    ),
}

INDEX_BODY = (
    "<p>A reference service for load and disaster-recovery tests.</p><ul>"
    + "".join(
        f'<li><a href="/pages/{slug}">{escape(title)}</a></li>'
        for slug, (title, _) in PAGES.items()
    )
    + "</ul>"
)


def render_page(title: str, body_html: str) -> bytes:
    """A whole HTML document around `body_html` (trusted markup from this module)."""
    nav = "".join(
        f'<a href="/pages/{slug}">{escape(name)}</a>' for slug, (name, _) in PAGES.items()
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · harness reference service</title>"
        '<link rel="stylesheet" href="/static/app.css"></head><body>'
        '<header><img src="/static/logo.svg" alt=""><nav><a href="/">Home</a>'
        f"{nav}</nav></header><main><h1>{escape(title)}</h1>{body_html}</main>"
        "<footer>harness reference service</footer>"
        '<script src="/static/app.js" defer></script></body></html>\n'
    ).encode()
