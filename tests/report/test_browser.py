"""The report in a real browser: headless Chromium driven over the DevTools protocol.

Loads a rendered report from file://, then checks that the page raised no console error or
exception, fetched nothing but itself and inline data, and that every chart decoded.
Skipped only when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.report.html import write_report
from harness.testing import make_run_dir

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1280,4000", "--remote-debugging-port=0",
)  # fmt: skip
PAGE_CHECK = """JSON.stringify({
  images: document.images.length,
  decoded: Array.from(document.images).every(i => i.complete && i.naturalWidth > 0),
  widths: Array.from(document.images).map(i => i.naturalWidth),
  headline: document.querySelector('.verdict .headline').textContent.trim(),
  sections: Array.from(document.querySelectorAll('section[id]')).map(s => s.id),
  height: document.documentElement.scrollHeight
})"""

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


class DevTools:
    """A minimal DevTools-protocol client over one page's websocket."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self._ws = websocket.create_connection(ws_url, timeout=20, suppress_origin=True)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events seen meanwhile are kept."""
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == call_id:
                assert "error" not in message, message
                return dict(message.get("result") or {})
            self.events.append(message)

    def wait_for(self, method: str, deadline_s: float) -> dict[str, Any]:
        """Block until the event `method` arrives (or fail at the deadline)."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(json.loads(self._ws.recv()))
        raise AssertionError(f"no {method} within {deadline_s} s")

    def close(self) -> None:
        """Close the websocket."""
        self._ws.close()


def _wait_port(profile: Path, proc: subprocess.Popen[bytes], deadline_s: float) -> int:
    """Chromium writes its DevTools port into the profile once it listens."""
    marker = profile / "DevToolsActivePort"
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"chromium exited with {proc.returncode}")
        if marker.exists():
            first = marker.read_text().splitlines()[:1]
            if first and first[0].isdigit():
                return int(first[0])
        time.sleep(0.05)  # polling a file Chromium writes; the condition is the deadline
    raise AssertionError("chromium did not open its DevTools port")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    client: DevTools | None = None
    try:
        port = _wait_port(profile, proc, 30.0)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.load(resp)
        page = next(t for t in targets if t.get("type") == "page")
        client = DevTools(page["webSocketDebuggerUrl"])
        yield client
    finally:
        if client is not None:
            client.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params") or {}
        if method == "Runtime.exceptionThrown":
            found.append(str(params.get("exceptionDetails")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(str(params.get("args")))
        elif method == "Log.entryAdded" and (params.get("entry") or {}).get("level") == "error":
            found.append(str(params["entry"].get("text")))
    return found


def test_report_loads_offline_without_errors(browser: DevTools, tmp_path: Path) -> None:
    run = make_run_dir(
        tmp_path / "run", duration_s=40, rate_per_s=50, kind="scenario", scenario="failover",
        faults=[(15, 22, "kill-primary")], failure_windows=[(15, 19, 0.8)], lost_workers=1,
        workers=2, thresholds=["p(95)<10ms", "error_rate<1%"],
    )  # fmt: skip
    report = write_report(run.path)
    for domain in ("Runtime", "Log", "Network", "Page"):
        browser.call(f"{domain}.enable")
    browser.call("Page.navigate", url=report.as_uri())
    browser.wait_for("Page.loadEventFired", 30.0)
    found = browser.call("Runtime.evaluate", expression=PAGE_CHECK, returnByValue=True)
    page = json.loads(found["result"]["value"])
    assert page["headline"] == "FAIL"
    assert page["images"] == 4 and page["decoded"], page
    assert all(width >= 1000 for width in page["widths"]), page["widths"]
    assert page["sections"][:3] == ["verdict", "run", "thresholds"]
    assert "recovery" in page["sections"] and page["sections"][-1] == "workers"
    assert _errors(browser.events) == []
    urls = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert urls and all(u.startswith(("file://", "data:")) for u in urls), urls
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "report.png").write_bytes(png)
