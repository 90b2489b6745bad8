"""A worker's side of the per-request cache record (cache.jsonl; see `cache_journal`).

`CacheTap` listens to Locust's `request` event and keeps, for each answer that carries an
`X-Cache` header, `[t_sent, t_done, name, path?query, x_cache, status, latency_us]`; the worker
ships them with its per-second intervals, at most `MAX_PER_MESSAGE` a second (more are
counted as dropped). No Locust import here, and none of the service's: workers stay light.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

MAX_PER_MESSAGE = 20_000  # message_checks.MAX_CACHE_RECORDS
"""Records a worker sends per second at most; beyond, they are counted as dropped."""


@lru_cache(maxsize=65_536)
def cache_key(target: str) -> str:
    """The cache key of a path and query as sent (or a URL): the query's parameters sorted,
    blank ones and stray `&` dropped, each kept as spelled (`?b=2&a=1&c=` and `?a=1&b=2` are
    one key, as on the edge). Memoised: keys repeat, and decoding and re-encoding every
    query cost ~80 us a request."""
    if "://" in target:
        parts = urlsplit(target)
        path, query = parts.path, parts.query
    else:
        path, _, query = target.partition("?")
    params = sorted(p for p in query.split("&") if p and not p.endswith("="))
    return path + ("?" + "&".join(params) if params else "")


class CacheTap:
    """Collects a worker's answers that carry `X-Cache`, until the next `take()`."""

    def __init__(self, max_per_take: int = MAX_PER_MESSAGE) -> None:
        self.max_per_take = max_per_take
        self._records: list[list[Any]] = []
        self.dropped = 0

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        response: Any = None,
        start_time: float | None = None,
        url: str | None = None,
        **_kwargs: Any,
    ) -> None:
        """Locust `request` event listener."""
        headers = getattr(response, "headers", None)
        label = headers.get("X-Cache") if headers is not None else None
        if not label:
            return
        target = _target(response, url)
        if target is None:
            return
        if len(self._records) >= self.max_per_take:
            self.dropped += 1
            return
        latency_us = round((response_time or 0.0) * 1000)
        sent = float(start_time) if start_time else 0.0
        done = sent + latency_us / 1e6 if sent else 0.0
        status = getattr(response, "status_code", 0) or 0
        self._records.append(
            [sent, done, f"{request_type} {name}"[:512], target[:2048], str(label), int(status),
             latency_us]
        )  # fmt: skip

    def take(self) -> tuple[list[list[Any]], int]:
        """The records since the last call, and how many were dropped over the bound."""
        records, self._records = self._records, []
        dropped, self.dropped = self.dropped, 0
        return records, dropped


def _target(response: Any, url: str | None) -> str | None:
    """The request's path and query as sent (the master spells it canonically)."""
    # FastHttpUser passes `params` apart: only the request's parsed URL has the query, and
    # reading its parts costs ~1 us where rendering the whole URL costs ~13
    split = getattr(getattr(response, "request", None), "url_split", None)
    if split is not None:
        query = split.query
        return str(split.path) + ("?" + str(query) if query else "")
    raw = url or getattr(response, "url", None)
    if not raw:
        return None
    parts = urlsplit(raw)
    return parts.path + ("?" + parts.query if parts.query else "")
