"""Faults reached over the network: a webhook call, and a toxic on the router in front of a host.

Like every fault, each validates its `params` in `from_params`, does the real thing in
`inject` and undoes it in `clear`, safe whatever state `inject` reached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.faults.base import FaultContext, FaultError, tail
from harness.faults.generic import string_map
from harness.faults.infra.rest import Unreachable, send
from harness.redaction import redact_url
from harness.scenarios.model import thaw
from harness.toml_table import Table


@dataclass(frozen=True)
class HttpCall:
    """One webhook request and the status it must answer with (None: any 2xx)."""

    url: str
    method: str = "POST"
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    expect_status: tuple[int, ...] | None = None
    timeout_s: float = 10.0

    @classmethod
    def from_table(cls, table: Table, default_url: str | None = None) -> HttpCall:
        """Read url, method, body (string or table sent as JSON), headers, expect_status."""
        url = table.string("url", default_url)
        if not url.startswith(("http://", "https://")):
            raise table.error(f"expected an http(s) URL, got {url!r}", "url")
        headers = dict(string_map(table, "headers"))
        body_value = table.raw("body")
        body: bytes | None = None
        if isinstance(body_value, str):
            body = body_value.encode("utf-8")
        elif isinstance(body_value, Mapping | list | tuple):  # a scenario's params are frozen
            body = json.dumps(thaw(body_value)).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        elif body_value is not None:
            raise table.error("expected a string or a table (sent as JSON)", "body")
        return cls(
            url=url,
            method=table.string("method", "POST").upper(),
            body=body,
            headers=headers,
            expect_status=_statuses(table),
            timeout_s=table.duration("timeout_s", 10.0),
        )

    def call(self, fault_type: str) -> int:
        """Send the request; return its status, or raise FaultError when unexpected."""
        try:
            reply = send(self.url, self.method, body=self.body, headers=self.headers,
                         timeout_s=self.timeout_s, max_bytes=2048)  # fmt: skip
        except Unreachable as exc:
            where = redact_url(self.url)
            raise FaultError(fault_type, f"{self.method} {where} failed: {exc}") from None
        status, text = reply.status, reply.raw
        ok = status in self.expect_status if self.expect_status else 200 <= status < 300
        if not ok:
            wanted = "/".join(map(str, self.expect_status or ())) or "2xx"
            raise FaultError(
                fault_type,
                f"{self.method} {redact_url(self.url)} answered {status}, expected {wanted}: "
                f"{tail(text)}",
            )
        return int(status)


def _statuses(table: Table) -> tuple[int, ...] | None:
    value = table.raw("expect_status")
    if value is None:
        return None
    values = list(value) if isinstance(value, list | tuple) else [value]  # frozen: a tuple
    if not values or not all(
        isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599 for v in values
    ):
        raise table.error("expected an HTTP status (100..599) or an array of them", "expect_status")
    return tuple(values)


@dataclass(frozen=True)
class HttpFault:
    """Call a webhook at injection (e.g. a chaos endpoint) and another at clear, if given."""

    inject_call: HttpCall
    clear_call: HttpCall | None = None
    type: str = "http"

    @classmethod
    def from_params(cls, params: Table) -> HttpFault:
        """Build from `[fault.params]` (the inject call) and `[fault.params.clear]`."""
        clear_table = params.table("clear")
        inject_call = HttpCall.from_table(params)
        clear_call = None
        if clear_table is not None:
            clear_call = HttpCall.from_table(clear_table, default_url=inject_call.url)
            clear_table.finish()
        return cls(inject_call, clear_call)

    def describe(self) -> str:
        """One line: the calls made."""
        text = f"http: {self.inject_call.method} {redact_url(self.inject_call.url)}"
        if self.clear_call is not None:
            text += f"; clear: {self.clear_call.method} {redact_url(self.clear_call.url)}"
        return text

    def inject(self, ctx: FaultContext) -> None:
        """Make the inject call."""
        self.inject_call.call(self.type)

    def clear(self, ctx: FaultContext) -> None:
        """Make the clear call, when there is one."""
        if self.clear_call is not None:
            self.clear_call.call(self.type)


class ProxyFault:
    """Add a toxic to the router (the proxy in front of the target); remove it at clear.

    The router is the one at `control` ("host:port" of its control API) when given, else
    the context's `proxy`, else the deployment's router. The toxic is validated at load
    time by the router's own rules (`harness.topology.toxics`). Clear removes the toxic by
    name if the router still holds it, so it is safe after a half-done injection.
    """

    type = "proxy"

    def __init__(self, toxic: Mapping[str, Any], control: tuple[str, int] | None) -> None:
        self.toxic = dict(toxic)
        self.control = control

    @classmethod
    def from_params(cls, params: Table) -> ProxyFault:
        """Build from `[fault.params]`: toxic, scope, stream, toxicity, *_ms, name, control."""
        from harness.errors import ConfigError
        from harness.topology.toxics import TOXIC_TYPES, toxic_from_json

        kind = params.choice("toxic", TOXIC_TYPES)
        scope = params.string("scope", "listener")
        body: dict[str, Any] = {
            "type": kind,
            "scope": scope,
            "stream": params.choice("stream", ("upstream", "downstream", "both"), "downstream"),
            "toxicity": params.number("toxicity", 1.0, low=0.0, high=1.0),
            "name": params.string("name", f"fault-{kind}"),
            "attributes": {},
        }
        for key in ("latency_ms", "jitter_ms", "timeout_ms"):
            if params.has(key):
                body["attributes"][key] = params.number(key, low=0.0)
        try:
            toxic = toxic_from_json(body, scopes=[scope], default_name=body["name"]).to_json()
        except ConfigError as exc:
            raise params.error(str(exc), None) from None
        return cls(toxic, _host_port(params, "control"))

    def describe(self) -> str:
        """One line: the toxic and where it applies."""
        attributes = ", ".join(f"{k}={v:g}" for k, v in self.toxic["attributes"].items())
        where = f"{self.toxic['scope']}" + (f" ({attributes})" if attributes else "")
        return f"proxy: {self.toxic['type']} toxic {self.toxic['name']!r} on {where}"

    def inject(self, ctx: FaultContext) -> None:
        """Add the toxic through the router's control API."""
        client = self._client(ctx)
        toxic = self.toxic
        try:
            client.add_toxic(
                toxic["type"],
                scope=toxic["scope"],
                name=toxic["name"],
                stream=toxic["stream"],
                toxicity=toxic["toxicity"],
                **toxic["attributes"],
            )
        except Exception as exc:  # the client raises ConfigError/RunFailed with the reason
            raise FaultError(self.type, f"router refused the toxic: {exc}") from None

    def clear(self, ctx: FaultContext) -> None:
        """Remove the toxic when the router holds it."""
        client = self._client(ctx)
        try:
            names = {toxic.get("name") for toxic in client.list_toxics()}
            if self.toxic["name"] in names:
                client.remove_toxic(self.toxic["name"])
        except Exception as exc:
            raise FaultError(self.type, f"could not remove the toxic: {exc}") from None

    def _client(self, ctx: FaultContext) -> Any:
        if self.control is not None:
            from harness.topology.router import RouterClient

            return RouterClient(*self.control)
        router = ctx.proxy or getattr(ctx.deployment, "router", None)
        if router is None:
            raise FaultError(self.type, "no router in front of the target (set params.control)")
        return router


def _host_port(params: Table, key: str) -> tuple[str, int] | None:
    value = params.opt_string(key)
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise params.error(f'expected "host:port" of the router\'s control API, got {value!r}', key)
    return host.strip("[]"), int(port)
