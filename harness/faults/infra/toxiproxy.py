"""The `toxiproxy` fault: a toxic added through a Toxiproxy server's HTTP API, removed at
clear. Our router serves the same API subset on its control port, so `api` may name either.

    [fault]
    type = "toxiproxy"
    params = { api = "http://127.0.0.1:8474", proxy = "orders_db", toxic = "latency",
               attributes = { latency = 800, jitter = 100 } }

`proxy` names an existing proxy; with `listen` and `upstream` the fault creates it at
injection and deletes it at clear. `toxic` is one of Toxiproxy's types (`latency`,
`timeout`, `reset_peer`, `bandwidth`, `limit_data`, `slow_close`, `slicer`), or `down`,
which disables the proxy (`enabled: false`) instead of adding a toxic. `stream`
(`downstream`), `toxicity` (1), `attributes` (Toxiproxy's names and units) and `name`
(`harness-<toxic>`) are passed as given; the server validates them, and its refusal fails
the injection with its own message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from harness.faults.base import FaultContext, FaultError
from harness.faults.infra.rest import Unreachable, send
from harness.toml_table import Table

TOXIC_TYPES = ("latency", "timeout", "reset_peer", "bandwidth", "limit_data", "slow_close",
               "slicer", "down")  # fmt: skip
DEFAULT_API = "http://127.0.0.1:8474"
TIMEOUT_S = 10.0


@dataclass
class ToxiproxyFault:
    """Add (or `down`: disable) at injection, remove (enable) at clear."""

    api: str
    proxy: str
    toxic: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, float] = field(default_factory=dict)
    name: str = ""
    listen: str | None = None
    upstream: str | None = None
    type: str = "toxiproxy"

    def __post_init__(self) -> None:
        self._created = False
        self._added = False

    @classmethod
    def from_params(cls, params: Table) -> ToxiproxyFault:
        """Build from `[fault.params]`."""
        api = params.string("api", DEFAULT_API).rstrip("/")
        parts = urlsplit(api)
        if parts.scheme != "http" or not parts.hostname:
            raise params.error(f"expected the API's http:// URL, got {api!r}", "api")
        toxic = params.choice("toxic", TOXIC_TYPES)
        attributes: dict[str, float] = {}
        table = params.table("attributes")
        if table is not None:
            for key in table.data:
                attributes[key] = table.number(key, low=0)
            table.finish()
        listen, upstream = params.opt_string("listen"), params.opt_string("upstream")
        if (listen is None) != (upstream is None):
            raise params.error("expected both listen and upstream (to create the proxy), or "
                               "neither", "upstream" if upstream is None else "listen")  # fmt: skip
        return cls(
            api=api,
            proxy=params.string("proxy", required=True),
            toxic=toxic,
            stream=params.choice("stream", ("downstream", "upstream"), "downstream"),
            toxicity=params.number("toxicity", 1.0, low=0, high=1),
            attributes=attributes,
            name=params.string("name", f"harness-{toxic}"),
            listen=listen,
            upstream=upstream,
        )

    def describe(self) -> str:
        """One line: which toxic on which proxy of which server."""
        what = "disable" if self.toxic == "down" else f"{self.toxic} toxic {self.name!r} on"
        attrs = ", ".join(f"{k}={v:g}" for k, v in self.attributes.items())
        return (f"toxiproxy: {what} proxy {self.proxy!r} at {self.api}"
                + (f" ({self.stream}; {attrs})" if attrs else ""))  # fmt: skip

    def inject(self, ctx: FaultContext) -> None:
        """Create the proxy if asked, then add the toxic (or disable the proxy)."""
        if self.listen is not None:
            proxy = {"name": self.proxy, "listen": self.listen, "upstream": self.upstream}
            self._call("POST", "/proxies", proxy | {"enabled": True})
            self._created = True
        path = f"/proxies/{quote(self.proxy, safe='')}"
        if self.toxic == "down":
            self._call("POST", path, {"enabled": False})
        else:
            body = {"name": self.name, "type": self.toxic, "stream": self.stream,
                    "toxicity": self.toxicity, "attributes": self.attributes}  # fmt: skip
            self._call("POST", f"{path}/toxics", body)
        self._added = True

    def clear(self, ctx: FaultContext) -> None:
        """Remove what injection added; a proxy or toxic already gone is not an error."""
        path = f"/proxies/{quote(self.proxy, safe='')}"
        if self._added:
            self._added = False
            if self.toxic == "down":
                self._call("POST", path, {"enabled": True}, missing_ok=True)
            else:
                self._call("DELETE", f"{path}/toxics/{quote(self.name, safe='')}", missing_ok=True)
        if self._created:
            self._created = False
            self._call("DELETE", path, missing_ok=True)

    def _call(self, method: str, path: str, body: Any = None, missing_ok: bool = False) -> Any:
        try:
            reply = send(self.api, method, path, json_body=body, timeout_s=TIMEOUT_S)
        except Unreachable as exc:
            raise FaultError(self.type, f"Toxiproxy API at {self.api}: {exc}") from None
        if reply.status == 404 and missing_ok:
            return None
        if reply.status >= 400:
            raise FaultError(self.type, f"{method} {path} answered {reply.status}: "
                             f"{_message(reply.raw)}")  # fmt: skip
        return reply.json()


def _message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return raw[:200].decode(errors="replace").strip() or "(no body)"
    return str(data.get("error", data)) if isinstance(data, dict) else str(data)
