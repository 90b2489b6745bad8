"""Our router speaks Toxiproxy's HTTP API subset, tested with the calls Toxiproxy's clients
make, and the `toxiproxy` fault drives it: latency that really delays, proxies created and
deleted, disabled and enabled, bandwidth and limit_data on real transfers."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from harness.faults import RecordingSink, build_fault, clear_fault, inject_fault
from harness.faults.base import FaultContext
from harness.scenarios.model import FaultSpec, freeze
from harness.topology.router import Router

from .conftest import Upstream, get, get_or_none


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One Toxiproxy API call, as its clients make it (JSON in, JSON out)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        payload = None if body is None else json.dumps(body)
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def timed_get(url: str, path: str) -> tuple[float, int]:
    started = time.monotonic()
    status, _ = get(url, path)
    return time.monotonic() - started, status


def test_toxiproxy_calls_on_the_routers_own_proxy(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    a = upstreams("a")
    router = router_for([a])
    api = router.control_port
    assert call(api, "GET", "/version")[0] == 200
    status, proxies = call(api, "GET", "/proxies")
    assert status == 200 and proxies["router"] == {
        "name": "router", "listen": f"127.0.0.1:{router.listen_port}",
        "upstream": f"127.0.0.1:{a.port}", "enabled": True, "toxics": []}  # fmt: skip
    body = {"type": "latency", "attributes": {"latency": 1000, "jitter": 0}}
    status, toxic = call(api, "POST", "/proxies/router/toxics", body)
    assert status == 200 and toxic == {"name": "latency_downstream", "type": "latency",
                                       "stream": "downstream", "toxicity": 1.0,
                                       "attributes": {"latency": 1000, "jitter": 0}}  # fmt: skip
    assert timed_get(router.url, "/whoami")[0] >= 1.0
    assert call(api, "POST", "/proxies/router/toxics", {"type": "latency"}) == (
        409, {"error": "toxic already exists", "status": 409})  # fmt: skip
    status, updated = call(api, "POST", "/proxies/router/toxics/latency_downstream",
                           {"attributes": {"latency": 50}})  # fmt: skip
    assert status == 200 and updated["attributes"] == {"latency": 50, "jitter": 0}
    assert call(api, "GET", "/proxies/router/toxics")[1] == [updated]
    assert call(api, "DELETE", "/proxies/router/toxics/latency_downstream") == (204, None)
    assert timed_get(router.url, "/whoami")[0] < 1.0
    assert call(api, "GET", "/proxies/nope")[0] == 404
    assert call(api, "GET", "/proxies/router/toxics/nope")[0] == 404
    assert call(api, "POST", "/proxies/router/toxics", {"type": "slicer"})[0] == 400
    sideways = {"type": "latency", "stream": "sideways"}
    assert call(api, "POST", "/proxies/router/toxics", sideways)[0] == 400
    assert call(api, "POST", "/proxies/router", {"enabled": False})[1]["enabled"] is False
    assert get_or_none(router.url, "/whoami", 1.0) is None  # refused
    assert call(api, "POST", "/reset") == (204, None)
    assert get_or_none(router.url, "/whoami") == b"a"
    assert call(api, "DELETE", "/proxies/router")[0] == 400
    assert router.status()["toxics"] == []  # the router's own API sees the same toxics


def test_created_proxies_with_bandwidth_and_limit_data(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    a = upstreams("a")
    router = router_for([a])
    api = router.control_port
    status, proxy = call(api, "POST", "/proxies", {"name": "direct", "listen": "127.0.0.1:0",
                                                  "upstream": f"127.0.0.1:{a.port}"})  # fmt: skip
    assert status == 201 and proxy["enabled"] is True and proxy["upstream"].endswith(f":{a.port}")
    url = f"http://{proxy['listen']}"
    assert get_or_none(url, "/whoami") == b"a"
    assert call(api, "POST", "/proxies", {"name": "direct", "upstream": "x:1"})[0] == 409
    assert call(api, "POST", "/proxies", {"name": "x"})[0] == 400
    call(
        api, "POST", "/proxies/direct/toxics", {"type": "limit_data", "attributes": {"bytes": 500}}
    )
    with pytest.raises((http.client.HTTPException, OSError)):
        get(url, "/bytes?n=200000")  # the connection closes after 500 bytes of the answer
    call(api, "DELETE", "/proxies/direct/toxics/limit_data_downstream")
    call(api, "POST", "/proxies/direct/toxics", {"type": "bandwidth", "attributes": {"rate": 100}})
    took_s, status = timed_get(url, "/bytes?n=60000")  # 60 KB at 100 KB/s
    assert status == 200 and took_s >= 0.45
    assert call(api, "DELETE", "/proxies/direct") == (204, None)
    assert get_or_none(url, "/whoami", 1.0) is None


def fault(**params: object):  # type: ignore[no-untyped-def]
    return build_fault(FaultSpec(type="toxiproxy", params=freeze(params)), "s.toml")


def test_the_toxiproxy_fault_against_our_router(
    upstreams: Callable[[str], Upstream], router_for: Callable[..., Router]
) -> None:
    a = upstreams("a")
    router = router_for([a])
    api = f"http://127.0.0.1:{router.control_port}"
    ctx = FaultContext(sink=RecordingSink())
    slow = fault(api=api, proxy="router", toxic="latency", attributes={"latency": 1000})
    inject_fault(slow, ctx)
    assert timed_get(router.url, "/whoami")[0] >= 1.0
    clear_fault(slow, ctx)
    assert timed_get(router.url, "/whoami")[0] < 1.0 and router.status()["toxics"] == []
    created = fault(api=api, proxy="db", toxic="down", listen="127.0.0.1:0",
                    upstream=f"127.0.0.1:{a.port}")  # fmt: skip
    inject_fault(created, ctx)
    listen = call(router.control_port, "GET", "/proxies/db")[1]["listen"]
    assert get_or_none(f"http://{listen}", "/whoami", 1.0) is None
    clear_fault(created, ctx)
    assert call(router.control_port, "GET", "/proxies/db")[0] == 404
    refused = fault(api=api, proxy="nope", toxic="latency")
    with pytest.raises(Exception, match="answered 404: proxy not found"):
        inject_fault(refused, ctx)
