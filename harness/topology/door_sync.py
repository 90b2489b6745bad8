"""The router's side of the HAProxy front door: what HAProxy should do, and pushing it there.

`desired` turns the routing table and the toxics into server states (pure, tested without
sockets); `commands` turns a change of state into runtime API commands; `DoorSync` (a greenlet
in the router process) pushes every change at once and the whole state again every second,
so a restarted HAProxy (which starts from its configuration file) is corrected within a
second. See `harness.topology.front_door` for the rules.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from harness.topology.front_door import BACKEND, FRONTEND, ROUTER_SERVER
from harness.topology.routing import RoutingTable
from harness.topology.toxics import LISTENER, Toxic

RESYNC_S = 1.0


@dataclass(frozen=True)
class DoorState:
    """Every HAProxy server's admin state (`ready` or `maint`) and the frontend's."""

    servers: Mapping[str, str] = field(default_factory=dict)
    frontend_enabled: bool = True


def desired(table: RoutingTable, toxics: Iterable[Toxic], servers: Mapping[str, str]) -> DoorState:
    """What HAProxy should do now; `servers` maps endpoint keys to HAProxy server names."""
    toxics = list(toxics)
    listener_down = any(t.type == "down" and t.scope == LISTENER for t in toxics)
    states = dict.fromkeys(servers.values(), "maint")
    if toxics:  # every connection through the router, where the toxics act
        return DoorState(states | {ROUTER_SERVER: "ready"}, frontend_enabled=not listener_down)
    states[ROUTER_SERVER] = "maint"
    healthy = [r for r in table.regions if table.region_healthy(r)]
    if not healthy:  # last resort, as the router's: health lags reality
        return DoorState(states | dict.fromkeys(servers.values(), "ready"))
    ready_regions = {table.active}
    if table.active == table.regions[0]:  # HAProxy's backups: used when every primary fails
        ready_regions |= {r for r in healthy if r != table.active}
    for key, name in servers.items():
        state = table.health[key]
        if state.healthy and state.endpoint.region in ready_regions:
            states[name] = "ready"
    return DoorState(states)


def commands(old: DoorState | None, new: DoorState, *, full: bool = False) -> list[str]:
    """Runtime API commands from `old` to `new`: every state when `old` is None or `full`
    (a resync), but sessions shut down only on a real change from `old`.

    A server leaving `ready` has its sessions shut down (HAProxy's `on-marked-down
    shutdown-sessions`, as the router closes an unhealthy endpoint's connections), so that
    keep-alive clients reconnect where traffic goes now; the router's own are left open
    (the toxics that sent them there are gone: they flow as they are)."""
    lines = []
    everything = full or old is None
    if everything or (old is not None and old.frontend_enabled != new.frontend_enabled):
        lines.append(f"{'enable' if new.frontend_enabled else 'disable'} frontend {FRONTEND}")
    for name, state in new.servers.items():
        before = None if old is None else old.servers.get(name)
        if before == state and not everything:
            continue
        lines.append(f"set server {BACKEND}/{name} state {state}")
        if state == "maint" and before == "ready" and name != ROUTER_SERVER:
            lines.append(f"shutdown sessions server {BACKEND}/{name}")
    return lines


class DoorSync:
    """Keeps HAProxy in step with the router: the router calls `sync()` after every change
    and every 250 ms."""

    def __init__(
        self, admin: str, servers: Mapping[str, str], compute: Callable[[], DoorState]
    ) -> None:
        self.admin = admin
        self.servers = dict(servers)
        self.compute = compute
        self.pushed: DoorState | None = None
        self.pushed_at = 0.0
        self.failures = 0
        self.last_error = ""

    def sync(self) -> None:
        """Push what changed (or everything, once a second or after a failure)."""
        new = self.compute()
        full = time.monotonic() - self.pushed_at >= RESYNC_S
        lines = commands(self.pushed, new, full=full)
        if not lines:
            return
        try:
            send_via_gevent(self.admin, lines)
        except OSError as exc:  # HAProxy restarting: the next sync pushes everything
            self.failures += 1
            self.last_error = str(exc)
            self.pushed = None
            self.pushed_at = 0.0
            return
        self.pushed = new
        if full:
            self.pushed_at = time.monotonic()


def send_via_gevent(admin: str, lines: list[str]) -> str:
    """`send` on gevent's sockets (the router process does not monkey-patch)."""
    from gevent import socket as gsocket

    host, port = admin.rsplit(":", 1)
    sock = gsocket.create_connection((host, int(port)), timeout=1.0)
    try:
        sock.sendall(("; ".join(lines) + "\n").encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    finally:
        with contextlib.suppress(OSError):
            sock.close()
    return b"".join(chunks).decode(errors="replace")
