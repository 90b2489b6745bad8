"""The deployment's front door: HAProxy as the data plane, the router as its control plane.

Clients connect to HAProxy (`mode tcp`, byte for byte like the router). Its backend has one
server per service endpoint (`ep0`, `ep1`, ... in the router's upstream order; the primary
region's are normal servers, the others `backup`) and one server `router`: the router's own
listener. The router process keeps doing what it did (health checks, the active region,
toxics, events, the control and Toxiproxy APIs) and drives HAProxy through its runtime API
(`set server ... state ready|maint`, `shutdown sessions server ...`, `disable|enable
frontend`, see `harness.topology.door_sync`):

- no toxic in force: HAProxy reaches the regions directly; only the active region's healthy
  endpoints are `ready` (and, while the primary is active, the next healthy region's, as
  HAProxy `backup` servers used only when every primary server fails HAProxy's own checks);
- any toxic in force: every endpoint server is in `maint` (its open connections shut down so
  that clients reconnect through the fault) and `router` is `ready`: traffic takes the
  router's path, where the toxics act exactly as without HAProxy;
- a listener `down` toxic also disables HAProxy's frontend (new connections refused).

This module is the caller's side (the configuration file and the command); it imports no
gevent. Choosing the front door: `resolve_front_door`.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError
from harness.topology.processes import ManagedProcess, spawn
from harness.topology.router import HealthCheck

FRONT_DOORS = ("auto", "haproxy", "router")
BACKEND = "regions"
FRONTEND = "front"
ROUTER_SERVER = "router"


def server_name(index: int) -> str:
    """HAProxy's name for the router's `index`-th upstream endpoint."""
    return f"ep{index}"


def resolve_front_door(choice: str) -> tuple[str, str | None]:
    """The front door to run for `choice` and, when `auto` fell back, a notice saying why.

    `auto` is HAProxy when its binary is on PATH, else the router; `haproxy` without the
    binary is a ConfigError (bad input: nothing may start)."""
    if choice not in FRONT_DOORS:
        raise ConfigError(f"expected one of {', '.join(FRONT_DOORS)}, got {choice!r}",
                          "front_door")  # fmt: skip
    found = shutil.which("haproxy") is not None
    if choice == "haproxy" and not found:
        raise ConfigError("haproxy is not on PATH (install it, or use front_door = \"router\")",
                          "front_door")  # fmt: skip
    if choice == "auto":
        if found:
            return "haproxy", None
        return "router", "haproxy not found on PATH: the router is the front door"
    return choice, None


@dataclass(frozen=True)
class HaproxyDoor:
    """HAProxy in front of a deployment: its ports and the endpoints it may reach."""

    listen_port: int
    admin_port: int
    router_port: int
    endpoints: tuple[tuple[str, str, int], ...]  # (region, host, port), the router's order
    primary: str
    health: HealthCheck = field(default_factory=HealthCheck)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """The URL clients use."""
        return f"http://{self.host}:{self.listen_port}"

    @property
    def admin(self) -> str:
        """`host:port` of HAProxy's runtime API (admin level, loopback only)."""
        return f"{self.host}:{self.admin_port}"

    def config_text(self) -> str:
        """haproxy.cfg: tcp mode, fast checks, passive mark-down, the router as a server."""
        inter_ms = max(10, int(self.health.interval_s * 1000))
        check = (f"check inter {inter_ms} fall {self.health.fall} rise {self.health.rise} "
                 "observe layer4 error-limit 1 on-error mark-down")  # fmt: skip
        servers = []
        for index, (region, host, port) in enumerate(self.endpoints):
            backup = "" if region == self.primary else " backup"
            servers.append(f"    server {server_name(index)} {host}:{port} {check}{backup}")
        servers.append(f"    server {ROUTER_SERVER} {self.host}:{self.router_port} disabled")
        return "\n".join([
            "global",
            "    nbthread 1",  # measured faster on 2 shared cores (service and clients need them)
            f"    stats socket ipv4@{self.admin} level admin",
            "defaults",
            "    mode tcp",
            "    timeout connect 200ms",
            "    timeout client 300s",
            "    timeout server 300s",
            "    timeout client-fin 5s",
            "    retries 3",
            "    option redispatch 1",
            f"frontend {FRONTEND}",
            f"    bind {self.host}:{self.listen_port}",
            f"    default_backend {BACKEND}",
            f"backend {BACKEND}",
            "    option allbackups",
            *servers,
            "",
        ])  # fmt: skip

    def spawn(self, work_dir: Path, env: Mapping[str, str] | None = None) -> ManagedProcess:
        """Write haproxy.cfg and start HAProxy in the foreground (`-db`), so that the
        supervisor owns the process; restarted, it reads the same file (same ports)."""
        work_dir.mkdir(parents=True, exist_ok=True)
        config_path = work_dir / "haproxy.cfg"
        config_path.write_text(self.config_text())
        argv = [haproxy_binary(), "-f", str(config_path), "-db"]
        return spawn("haproxy", argv, work_dir / "haproxy.log", env=env)

    def is_ready(self) -> bool:
        """True once HAProxy accepts clients and has a server it would send them to (up by
        its own checks, and `ready` by the router's decision)."""
        try:
            socket.create_connection((self.host, self.listen_port), timeout=0.5).close()
            return "UP ready" in server_states(self.admin).values()
        except OSError:
            return False


def haproxy_binary() -> str:
    """The haproxy executable (RunFailed-free: ConfigError when missing)."""
    path = shutil.which("haproxy")
    if path is None:
        raise ConfigError("haproxy is not on PATH", "front_door")
    return path


def send(admin: str, lines: list[str], timeout_s: float = 1.0) -> str:
    """Send commands to HAProxy's runtime API (one connection, `;`-separated); its answer.

    Blocking stdlib sockets: for callers outside the router process (which uses
    `harness.topology.door_sync.send_via_gevent`)."""
    host, port = admin.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(("; ".join(lines) + "\n").encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def server_states(admin: str) -> dict[str, str]:
    """Each server of the front door's backend: HAProxy's `srv_op_state` and admin state as
    `UP`/`DOWN` and `ready`/`maint` (`show servers state`), e.g. {"ep0": "UP ready"}."""
    states = {}
    for line in send(admin, [f"show servers state {BACKEND}"]).splitlines():
        fields = line.split()
        if len(fields) > 6 and fields[1] == BACKEND:
            op = "UP" if fields[5] == "2" else "DOWN"
            admin_state = "maint" if int(fields[6]) & 0x23 else "ready"
            states[fields[3]] = f"{op} {admin_state}"
    return states


def endpoint_servers(endpoints: Sequence[tuple[str, str, int]]) -> dict[str, str]:
    """`region@host:port` (the router's endpoint key) to HAProxy server name."""
    return {f"{r}@{h}:{p}": server_name(i) for i, (r, h, p) in enumerate(endpoints)}
