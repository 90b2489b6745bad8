"""The subset of Toxiproxy's HTTP API the router serves on its control port, so that the
`toxiproxy` fault and users' existing Toxiproxy clients drive it as they drive Toxiproxy.

    GET    /version                          {"version": "..."}
    GET    /proxies                          {name: proxy}
    POST   /proxies                          {name, listen, upstream, enabled} -> 201 proxy
    GET    /proxies/{proxy}                  proxy (with its toxics)
    POST   /proxies/{proxy} (or PATCH)       {"enabled": false|true} -> proxy
    DELETE /proxies/{proxy}                  204 (not the router's own)
    GET    /proxies/{proxy}/toxics           [toxic]
    POST   /proxies/{proxy}/toxics           {name?, type, stream?, toxicity?, attributes} -> toxic
    GET    /proxies/{proxy}/toxics/{toxic}   toxic
    POST   /proxies/{proxy}/toxics/{toxic}   {attributes?, toxicity?} -> toxic (or PATCH)
    DELETE /proxies/{proxy}/toxics/{toxic}   204
    POST   /reset                            204: every proxy enabled, every toxic removed

A proxy is `{"name", "listen": "host:port", "upstream": "host:port", "enabled", "toxics"}`;
a toxic `{"name", "type", "stream", "toxicity", "attributes"}` with Toxiproxy's types and
attribute names: `latency` {latency, jitter} (ms), `timeout` {timeout} (ms), `reset_peer`
{timeout} (ms), `bandwidth` {rate} (KB/s), `limit_data` {bytes}. The default name is
`<type>_<stream>`, the default stream `downstream`, errors `{"error", "status"}` with
Toxiproxy's codes (400, 404, 409). Not served: `slow_close`, `slicer`, `/populate`,
`/metrics`; a `timeout` toxic holds both directions whatever its stream.

The router's own listener is the proxy named `router` (upstream: the active region's first
endpoint); its toxics are the router's listener-scoped toxics, and disabling it is a
listener `down` toxic. `POST /proxies` starts a plain proxy to one upstream inside the
router process. Pure request handling: the proxies come from a factory; no gevent here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from harness import __version__
from harness.errors import ConfigError
from harness.topology.toxics import LISTENER, Toxic

ROUTER_PROXY = "router"
DISABLED = "toxiproxy-disabled"
"""The listener `down` toxic that stands for `enabled: false`."""

#: Toxiproxy attribute name -> ours, per toxic type.
ATTRIBUTES: dict[str, dict[str, str]] = {
    "latency": {"latency": "latency_ms", "jitter": "jitter_ms"},
    "timeout": {"timeout": "timeout_ms"},
    "reset_peer": {"timeout": "timeout_ms"},
    "bandwidth": {"rate": "rate_kbps"},
    "limit_data": {"bytes": "bytes"},
}
STREAMS = ("upstream", "downstream")


class ApiError(Exception):
    """An error answered as Toxiproxy does: `{"error": message, "status": code}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ToxicHost(Protocol):
    """What the API needs of a proxy: its toxics and where it listens and forwards."""

    @property
    def toxics(self) -> Mapping[str, Toxic]: ...

    def add_toxic(self, body: Any) -> Toxic: ...

    def remove_toxics(self, names: Sequence[str]) -> None: ...

    def listen_address(self) -> str: ...

    def upstream_address(self) -> str: ...

    def shutdown(self) -> None: ...


ProxyFactory = Callable[[str, str, int, str, int], ToxicHost]
"""(name, listen host, listen port, upstream host, upstream port) -> a started proxy."""


def toxic_view(toxic: Toxic) -> dict[str, Any]:
    """Our toxic as Toxiproxy shows one."""
    names = {ours: theirs for theirs, ours in ATTRIBUTES.get(toxic.type, {}).items()}
    attributes = {names.get(k, k): _whole(v) for k, v in toxic.attributes.items()}
    stream = "downstream" if toxic.stream == "both" else toxic.stream
    return {"name": toxic.name, "type": toxic.type, "stream": stream,
            "toxicity": toxic.toxicity, "attributes": attributes}  # fmt: skip


def toxic_body(data: Any) -> dict[str, Any]:
    """A Toxiproxy toxic request as our router's toxic JSON (listener scope)."""
    if not isinstance(data, dict):
        raise ApiError(400, "bad request body: expected a JSON object")
    kind = data.get("type")
    if kind not in ATTRIBUTES:
        raise ApiError(400, f"invalid toxic type: {kind!r}; this router serves "
                            f"{', '.join(ATTRIBUTES)}")  # fmt: skip
    stream = data.get("stream") or "downstream"
    if stream not in STREAMS:
        raise ApiError(400, "stream was invalid, can be either upstream or downstream")
    raw = data.get("attributes") or {}
    if not isinstance(raw, dict):
        raise ApiError(400, "bad request body: attributes must be an object")
    names = ATTRIBUTES[kind]
    return {
        "name": data.get("name") or f"{kind}_{stream}",
        "type": kind,
        "scope": LISTENER,
        "stream": stream,
        "toxicity": data.get("toxicity", 1.0),
        "attributes": {names[k]: v for k, v in raw.items() if k in names},  # others ignored,
    }  # as Toxiproxy's JSON decoding ignores them


class ToxiproxyApi:
    """Routes Toxiproxy API calls to the router (`router`) and the proxies created here."""

    def __init__(self, router: ToxicHost, factory: ProxyFactory) -> None:
        self.proxies: dict[str, ToxicHost] = {ROUTER_PROXY: router}
        self.factory = factory

    def handles(self, path: str) -> bool:
        """True for the paths of this API (the router's own API keeps the others)."""
        return path in ("/version", "/reset", "/populate") or path.startswith("/proxies")

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """One call: (status, JSON payload or None)."""
        try:
            return self._route(method, [p for p in path.split("/") if p], body)
        except ApiError as exc:
            return exc.status, {"error": exc.message, "status": exc.status}
        except ConfigError as exc:
            return 400, {"error": str(exc), "status": 400}

    def _route(self, method: str, parts: list[str], body: bytes) -> tuple[int, Any]:
        if parts == ["version"] and method == "GET":
            return 200, {"version": f"harness-{__version__} (Toxiproxy API subset)"}
        if parts == ["reset"] and method == "POST":
            self.reset()
            return 204, None
        if parts == ["proxies"]:
            if method == "GET":
                return 200, {name: self.view(name) for name in self.proxies}
            if method == "POST":
                return 201, self.create(_json(body))
        if len(parts) >= 2 and parts[0] == "proxies":
            name = parts[1]
            proxy = self._proxy(name)
            if len(parts) == 2:
                return self._proxy_call(method, name, proxy, body)
            if parts[2] == "toxics" and len(parts) in (3, 4):
                return self._toxic_call(method, proxy, parts[3] if len(parts) == 4 else None,
                                        body)  # fmt: skip
        raise ApiError(404, f"no route {method} /{'/'.join(parts)} in this Toxiproxy API subset")

    # -- proxies ----------------------------------------------------------------------------

    def view(self, name: str) -> dict[str, Any]:
        """A proxy as Toxiproxy shows one."""
        proxy = self.proxies[name]
        toxics = [toxic_view(t) for t in proxy.toxics.values() if _visible(t)]
        return {"name": name, "listen": proxy.listen_address(),
                "upstream": proxy.upstream_address(), "enabled": DISABLED not in proxy.toxics,
                "toxics": toxics}  # fmt: skip

    def create(self, data: Any) -> dict[str, Any]:
        """Start a proxy from `listen` to `upstream`."""
        if not isinstance(data, dict):
            raise ApiError(400, "bad request body: expected a JSON object")
        name, upstream = data.get("name"), data.get("upstream")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "missing required field: name")
        if not isinstance(upstream, str) or not upstream:
            raise ApiError(400, "missing required field: upstream")
        if name in self.proxies or name == LISTENER:
            raise ApiError(409, "proxy already exists")
        listen_host, listen_port = _address(data.get("listen") or "127.0.0.1:0", "listen")
        up_host, up_port = _address(upstream, "upstream")
        try:
            proxy = self.factory(name, listen_host, listen_port, up_host, up_port)
        except OSError as exc:
            raise ApiError(500, f"cannot listen on {listen_host}:{listen_port}: {exc}") from None
        self.proxies[name] = proxy
        if data.get("enabled") is False:
            self._set_enabled(proxy, False)
        return self.view(name)

    def _proxy_call(self, method: str, name: str, proxy: ToxicHost, body: bytes
                    ) -> tuple[int, Any]:  # fmt: skip
        if method == "GET":
            return 200, self.view(name)
        if method in ("POST", "PATCH"):
            data = _json(body)
            if not isinstance(data, dict):
                raise ApiError(400, "bad request body: expected a JSON object")
            for key in ("listen", "upstream"):
                current = proxy.listen_address() if key == "listen" else proxy.upstream_address()
                if key in data and data[key] != current:
                    raise ApiError(400, f"changing {key} is not supported by this router")
            if "enabled" in data:
                self._set_enabled(proxy, bool(data["enabled"]))
            return 200, self.view(name)
        if method == "DELETE":
            if name == ROUTER_PROXY:
                raise ApiError(400, "the router's own proxy cannot be deleted")
            self.proxies.pop(name).shutdown()
            return 204, None
        raise ApiError(405, f"method {method} not allowed")

    def _set_enabled(self, proxy: ToxicHost, enabled: bool) -> None:
        if enabled and DISABLED in proxy.toxics:
            proxy.remove_toxics([DISABLED])
        elif not enabled and DISABLED not in proxy.toxics:
            proxy.add_toxic({"name": DISABLED, "type": "down", "scope": LISTENER})

    def reset(self) -> None:
        """Every proxy enabled, every toxic visible through this API removed."""
        for proxy in self.proxies.values():
            names = [n for n, t in proxy.toxics.items() if t.scope == LISTENER]
            if names:
                proxy.remove_toxics(names)

    # -- toxics -----------------------------------------------------------------------------

    def _toxic_call(self, method: str, proxy: ToxicHost, name: str | None, body: bytes
                    ) -> tuple[int, Any]:  # fmt: skip
        visible = {n: t for n, t in proxy.toxics.items() if _visible(t)}
        if name is None:
            if method == "GET":
                return 200, [toxic_view(t) for t in visible.values()]
            if method == "POST":
                request = toxic_body(_json(body))
                if request["name"] in proxy.toxics:
                    raise ApiError(409, "toxic already exists")
                return 200, toxic_view(proxy.add_toxic(request))
            raise ApiError(405, f"method {method} not allowed")
        toxic = visible.get(name)
        if toxic is None:
            raise ApiError(404, "toxic not found")
        if method == "GET":
            return 200, toxic_view(toxic)
        if method == "DELETE":
            proxy.remove_toxics([name])
            return 204, None
        if method in ("POST", "PATCH"):  # an update: the same toxic with new values
            data = _json(body)
            if not isinstance(data, dict):
                raise ApiError(400, "bad request body: expected a JSON object")
            current = toxic_view(toxic)
            merged = {**current, **{k: v for k, v in data.items() if k != "attributes"},
                      "attributes": {**current["attributes"], **(data.get("attributes") or {})},
                      "name": name, "type": toxic.type, "stream": current["stream"]}  # fmt: skip
            request = toxic_body(merged)
            proxy.remove_toxics([name])
            return 200, toxic_view(proxy.add_toxic(request))
        raise ApiError(405, f"method {method} not allowed")

    def _proxy(self, name: str) -> ToxicHost:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(404, "proxy not found")
        return proxy


def _visible(toxic: Toxic) -> bool:
    return toxic.scope == LISTENER and toxic.type in ATTRIBUTES


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise ApiError(400, "bad request body: not JSON") from None


def _address(value: Any, key: str) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise ApiError(400, f"bad request body: {key} must be host:port, got {value!r}")
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ApiError(400, f"bad request body: {key} must be host:port, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _whole(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
