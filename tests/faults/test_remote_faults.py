"""The webhook and proxy-toxic faults against real loopback servers (bounded)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.faults import FaultContext, FaultError, RecordingSink, build_fault
from harness.faults.remote import HttpFault, ProxyFault
from harness.scenarios import FaultSpec


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with the status in the path (`/status/503`), else 200."""

    seen: list[tuple[str, str, bytes]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, body))  # type: ignore[attr-defined]
        status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
        payload = b"service says no" if status >= 400 else b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.daemon_threads = True
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def base_url(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def make(fault_type: str, **params: object) -> Any:
    return build_fault(FaultSpec(type=fault_type, params=params), "test.toml")


def test_webhook_inject_and_clear(server: ThreadingHTTPServer) -> None:
    ctx = FaultContext(sink=RecordingSink())
    url = base_url(server)
    fault = make(
        "http",
        url=f"{url}/chaos/start",
        body={"kill": "db"},
        expect_status=[200, 202],
        clear={"url": f"{url}/chaos/stop", "method": "DELETE"},
    )
    assert isinstance(fault, HttpFault)
    fault.inject(ctx)
    fault.clear(ctx)
    seen = server.seen  # type: ignore[attr-defined]
    assert seen[0] == ("POST", "/chaos/start", b'{"kill": "db"}')
    assert seen[1] == ("DELETE", "/chaos/stop", b"")


def test_webhook_from_a_scenario_file_takes_a_table_body_and_a_status_array(
    server: ThreadingHTTPServer,
) -> None:
    from harness.scenarios import scenario_from_mapping

    url = base_url(server)
    params = {"url": f"{url}/chaos/start", "body": {"kill": ["db"]}, "expect_status": [200, 202]}
    scenario = scenario_from_mapping(
        {"name": "w", "target": url, "fault": {"type": "http", "params": params}}, "s.toml"
    )  # the loaded params are frozen (read-only tables, tuples): they used to be refused
    fault = build_fault(scenario.fault, "s.toml")
    assert isinstance(fault, HttpFault) and fault.inject_call.expect_status == (200, 202)
    fault.inject(FaultContext(sink=RecordingSink()))
    assert server.seen[-1] == ("POST", "/chaos/start", b'{"kill": ["db"]}')  # type: ignore[attr-defined]


def test_webhook_unexpected_status_names_it_with_the_body(server: ThreadingHTTPServer) -> None:
    fault = make("http", url=f"{base_url(server)}/status/503", timeout_s=5)
    with pytest.raises(FaultError, match="answered 503, expected 2xx: service says no"):
        fault.inject(FaultContext(sink=RecordingSink()))


def test_webhook_unreachable_is_a_fault_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fault = make("http", url=f"http://127.0.0.1:{port}/x", timeout_s=2)
    with pytest.raises(FaultError, match="failed"):
        fault.inject(FaultContext(sink=RecordingSink()))


def test_proxy_params_are_checked_by_the_router_rules() -> None:
    fault = make("proxy", toxic="latency", latency_ms=200, scope="a", name="slow")
    assert isinstance(fault, ProxyFault)
    assert fault.describe() == "proxy: latency toxic 'slow' on a (latency_ms=200, jitter_ms=0)"
    with pytest.raises(ConfigError, match=r"fault\.params: .*unknown attributes"):
        make("proxy", toxic="down", latency_ms=5)
    with pytest.raises(ConfigError, match=r'fault\.params\.control: expected "host:port"'):
        make("proxy", toxic="down", control="localhost")


def test_proxy_without_a_router_is_a_fault_error() -> None:
    with pytest.raises(FaultError, match="no router in front of the target"):
        make("proxy", toxic="down").inject(FaultContext(sink=RecordingSink()))


def fetch(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return int(response.status)


@pytest.mark.e2e
def test_proxy_down_toxic_through_a_real_router(server: ThreadingHTTPServer) -> None:
    from harness.topology.router import HealthCheck, Router

    port = int(server.server_address[1])
    with Router([("a", "127.0.0.1", port)], health=HealthCheck("tcp")) as router:
        assert fetch(f"{router.url}/before") == 200
        via_context = make("proxy", toxic="down", name="cut")
        ctx = FaultContext(sink=RecordingSink(), proxy=router)
        via_context.inject(ctx)
        assert [t["name"] for t in router.list_toxics()] == ["cut"]
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            fetch(f"{router.url}/during")
        via_context.clear(ctx)
        via_context.clear(ctx)  # idempotent: the toxic is already gone
        assert router.list_toxics() == []
        assert fetch(f"{router.url}/after") == 200

        control = f"127.0.0.1:{router.control_port}"
        by_address = make("proxy", toxic="latency", latency_ms=50, control=control)
        by_address.inject(FaultContext(sink=RecordingSink()))
        assert json.dumps(router.list_toxics()).count("fault-latency") == 1
        by_address.clear(FaultContext(sink=RecordingSink()))
        assert router.list_toxics() == []
