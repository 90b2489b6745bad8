"""The router: a TCP proxy in its own process that health-checks regions, fails over, and is the
network fault point (toxics). This module is the caller's side: configuration, a handle that
starts and stops the process, and a client for its control API. It imports no gevent; the
data plane lives in `harness.topology.proxy`, loaded only inside the router process.

    with Router(upstreams=[("a", "127.0.0.1", 8001), ("b", "127.0.0.1", 8002)]) as router:
        router.add_toxic("latency", scope="a", latency_ms=200)
        ... clients use router.url ...

Run by hand: `python -m harness.topology.router --config router.json`.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError, RunFailed
from harness.rundir import iter_jsonl, read_json, write_json_atomic
from harness.topology.processes import ManagedProcess, spawn, wait_for

HealthKind = Literal["http", "tcp", "none"]


@dataclass(frozen=True)
class HealthCheck:
    """How the router checks each endpoint: `http` GETs `path` and wants a 2xx, `tcp` wants a
    connection, `none` trusts every endpoint (passive failures still count)."""

    kind: HealthKind = "http"
    path: str = "/readyz"
    interval_s: float = 0.25
    timeout_s: float = 0.5
    rise: int = 2
    fall: int = 2


@dataclass(frozen=True)
class UpstreamAddress:
    """One endpoint: `region` names the upstream (several endpoints may share it)."""

    region: str
    host: str
    port: int


@dataclass(frozen=True)
class RouterConfig:
    """Everything the router process needs; sent to it as JSON."""

    upstreams: tuple[UpstreamAddress, ...]
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    control_port: int = 0
    primary: str | None = None
    failback: bool = True
    health: HealthCheck = field(default_factory=HealthCheck)
    connect_timeout_s: float = 1.0
    events_path: Path | None = None
    ready_path: Path | None = None
    haproxy_admin: str | None = None  # `host:port`: drive this HAProxy front door

    def __post_init__(self) -> None:
        if not self.upstreams:
            raise ConfigError("expected at least one upstream", "router.upstreams")
        regions = {u.region for u in self.upstreams}
        if "listener" in regions:
            raise ConfigError("'listener' is reserved for the router itself", "router.upstreams")
        if self.primary is not None and self.primary not in regions:
            raise ConfigError(f"expected one of {sorted(regions)}", "router.primary")
        if self.health.rise < 1 or self.health.fall < 1:
            raise ConfigError("rise and fall must be at least 1", "router.health")

    def to_json(self) -> dict[str, Any]:
        """JSON form, read back by `from_json` in the router process."""
        data = dataclasses.asdict(self)
        data["upstreams"] = [dataclasses.asdict(u) for u in self.upstreams]
        for key in ("events_path", "ready_path"):
            data[key] = None if data[key] is None else str(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RouterConfig:
        """Inverse of `to_json`."""
        fields = dict(data)
        fields["upstreams"] = tuple(UpstreamAddress(**u) for u in data["upstreams"])
        fields["health"] = HealthCheck(**data.get("health", {}))
        for key in ("events_path", "ready_path"):
            fields[key] = None if data.get(key) is None else Path(data[key])
        return cls(**fields)


class RouterClient:
    """Client of a running router's control API (JSON over HTTP on loopback)."""

    def __init__(self, host: str, port: int, timeout_s: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One control call; raises RunFailed with the router's message on an error status."""
        payload = None if body is None else json.dumps(body).encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except OSError as exc:
            raise RunFailed(f"router control API at {self.host}:{self.port}: {exc}") from exc
        finally:
            conn.close()
        data = json.loads(raw) if raw else None
        if response.status >= 400:
            message = data.get("error") if isinstance(data, dict) else raw.decode(errors="replace")
            error = ConfigError if response.status == 400 else RunFailed
            raise error(f"router: {message}")
        return data

    def add_toxic(
        self,
        type: str,
        *,
        scope: str = "listener",
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        **attributes: float,
    ) -> dict[str, Any]:
        """Add a toxic (see `harness.topology.toxics`); returns it as the router stored it."""
        body: dict[str, Any] = {"type": type, "scope": scope, "stream": stream}
        body |= {"toxicity": toxicity, "attributes": attributes}
        if name is not None:
            body["name"] = name
        result: dict[str, Any] = self.request("POST", "/toxics", body)
        return result

    def remove_toxic(self, name: str) -> None:
        """Remove one toxic by name."""
        self.request("DELETE", f"/toxics/{name}")

    def clear_toxics(self) -> None:
        """Remove every toxic."""
        self.request("DELETE", "/toxics")

    def list_toxics(self) -> list[dict[str, Any]]:
        """The toxics in force."""
        result: list[dict[str, Any]] = self.request("GET", "/toxics")
        return result

    def status(self) -> dict[str, Any]:
        """Routing state: active region, endpoint health, connection counts, toxics."""
        result: dict[str, Any] = self.request("GET", "/status")
        return result

    def wait(
        self, what: str, check: Callable[[dict[str, Any]], bool], timeout_s: float
    ) -> dict[str, Any]:
        """Poll /status until `check(status)` is true; raise RunFailed naming `what` after
        `timeout_s`. Returns the status that satisfied it."""
        found: dict[str, Any] = {}

        def ready() -> bool:
            found.update(self.status())
            return bool(check(found))

        wait_for(ready, timeout_s, f"router: {what}")
        return found


class Router:
    """A router process: start it, reach it at `.url`, drive its toxics, stop it.

    `upstreams` are `(region, host, port)` tuples; repeat a region name for a region with
    several endpoints. Any TCP service works as an upstream; with `health=HealthCheck("tcp")`
    (or `"none"`) it needs no `/readyz`. Ports default to ephemeral ones, kept across restarts.
    """

    def __init__(
        self,
        upstreams: Sequence[tuple[str, str, int]],
        *,
        listen_port: int = 0,
        control_port: int = 0,
        primary: str | None = None,
        failback: bool = True,
        health: HealthCheck | None = None,
        work_dir: Path | None = None,
        events_path: Path | None = None,
        haproxy_admin: str | None = None,
    ) -> None:
        import tempfile

        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="harness-router-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.config = RouterConfig(
            upstreams=tuple(UpstreamAddress(r, h, int(p)) for r, h, p in upstreams),
            listen_port=listen_port,
            control_port=control_port,
            primary=primary,
            failback=failback,
            health=health or HealthCheck(),
            events_path=events_path or self.work_dir / "router-events.jsonl",
            ready_path=self.work_dir / "router-ready.json",
            haproxy_admin=haproxy_admin,
        )
        self.process: ManagedProcess | None = None
        self.listen_port = listen_port
        self.control_port = control_port

    @property
    def url(self) -> str:
        """The URL clients use (valid after `start`)."""
        return f"http://{self.config.listen_host}:{self.listen_port}"

    @property
    def pid(self) -> int | None:
        """The router process's pid, or None when not running."""
        return self.process.pid if self.process is not None else None

    @property
    def client(self) -> RouterClient:
        """Control API client."""
        return RouterClient(self.config.listen_host, self.control_port)

    def command(self) -> list[str]:
        """The router process's command line (its config file is written by `start`)."""
        return [sys.executable, "-m", "harness.topology.router", "--config", str(self._config_path)]

    @property
    def _config_path(self) -> Path:
        return self.work_dir / "router-config.json"

    def spawn(self, env: dict[str, str] | None = None) -> ManagedProcess:
        """Start the router process without waiting (ports kept from an earlier start)."""
        config = dataclasses.replace(
            self.config, listen_port=self.listen_port, control_port=self.control_port
        )
        assert config.ready_path is not None
        config.ready_path.unlink(missing_ok=True)
        write_json_atomic(self._config_path, config.to_json())
        self.process = spawn("router", self.command(), self.work_dir / "router.log", env=env)
        return self.process

    def is_ready(self) -> bool:
        """True once the process listens and has checked every endpoint once."""
        ready_path = self.config.ready_path
        if self.process is None or ready_path is None or not ready_path.exists():
            return False
        info = read_json(ready_path)
        self.listen_port = int(info["listen_port"])
        self.control_port = int(info["control_port"])
        try:
            return bool(
                RouterClient(self.config.listen_host, self.control_port, 1.0).status()["ready"]
            )
        except RunFailed:
            return False

    def start(self, ready_timeout_s: float = 15.0, env: dict[str, str] | None = None) -> Router:
        """Start the process and wait until `is_ready`; RunFailed if it exits or times out."""
        process = self.spawn(env)

        def ready() -> bool:
            if process.poll() is not None:
                raise RunFailed(
                    f"router exited at start (code {process.returncode}): {process.log_tail()}"
                )
            return self.is_ready()

        try:
            wait_for(ready, ready_timeout_s, "the router to listen and check its upstreams")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the router (SIGTERM, then SIGKILL after `timeout_s`); idempotent."""
        if self.process is not None:
            self.process.stop(timeout_s)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the router process (a fault); it stays dead until `start` again."""
        if self.process is not None:
            self.process.signal(sig)

    def events(self) -> list[dict[str, Any]]:
        """Every event the router recorded (route changes, health, toxics, connections)."""
        path = self.config.events_path
        return list(iter_jsonl(path)) if path is not None else []

    def add_toxic(self, type: str, **kwargs: Any) -> dict[str, Any]:
        """See `RouterClient.add_toxic`."""
        return self.client.add_toxic(type, **kwargs)

    def remove_toxic(self, name: str) -> None:
        """See `RouterClient.remove_toxic`."""
        self.client.remove_toxic(name)

    def clear_toxics(self) -> None:
        """See `RouterClient.clear_toxics`."""
        self.client.clear_toxics()

    def list_toxics(self) -> list[dict[str, Any]]:
        """See `RouterClient.list_toxics`."""
        return self.client.list_toxics()

    def status(self) -> dict[str, Any]:
        """See `RouterClient.status`."""
        return self.client.status()

    def __enter__(self) -> Router:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the router process: `--config FILE` (a RouterConfig as JSON)."""
    from harness.topology.proxy import main as proxy_main

    return proxy_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
