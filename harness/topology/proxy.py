"""The router's data plane: a gevent TCP proxy with health checks, failover and toxics.

Loaded only inside the router process (`python -m harness.topology.router`). It uses gevent's
sockets, queues and events explicitly and monkey-patches nothing. Every socket it owns has
TCP_NODELAY set. Each accepted connection is paired with one upstream connection, chosen by
`RoutingTable.candidates()`; bytes are forwarded unchanged, so HTTP keep-alive connections stay
on the endpoint they were opened to until one side closes or the router closes them:

- an endpoint turning unhealthy closes its connections (HAProxy's `on-marked-down
  shutdown-sessions`), so keep-alive clients reconnect and are routed to a healthy region;
- an upstream `down` toxic closes that region's connections; a listener `down` toxic closes the
  listening socket (new connections are refused) and every connection;
- `reset_peer` resets (RST) the client side of the connections it applies to;
- `timeout` holds data both ways (nothing is dropped: it flows again when the toxic goes,
  like a healed partition) and closes the connection after `timeout_ms` if that is set;
- `latency` delays each chunk, pipelined: a chunk leaves `delay` after it arrived.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import resource
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gevent.queue
from gevent import socket as gsocket

from harness.rundir import JsonlAppender, read_json, write_json_atomic
from harness.topology.control import control_handler, serve_control, set_nodelay
from harness.topology.door_sync import DoorSync, desired
from harness.topology.front_door import endpoint_servers
from harness.topology.health import check_endpoint
from harness.topology.pipes import Connection, pump, reset_socket
from harness.topology.router import HealthCheck, RouterConfig, UpstreamAddress
from harness.topology.routing import Endpoint, RoutingTable
from harness.topology.toxics import LISTENER, Toxic, effect_of, toxic_from_json
from harness.topology.toxiproxy_api import ToxiproxyApi


class Proxy:
    """The router: listener, control API, health checkers and the connections between them."""

    def __init__(self, config: RouterConfig, events: JsonlAppender | None) -> None:
        self.config = config
        self.events = events
        self.rng = random.Random()
        self.table = RoutingTable(
            [Endpoint(u.region, u.host, u.port) for u in config.upstreams],
            primary=config.primary,
            rise=config.health.rise,
            fall=config.health.fall,
            failback=config.failback,
        )
        self._toxics: dict[str, Toxic] = {}
        self.connections: set[Connection] = set()
        self.listener: gsocket.socket | None = None
        self.listen_port = config.listen_port
        self._accept: gevent.Greenlet | None = None
        self._changed = gevent.event.Event()
        self._names = itertools.count(1)
        self.stopped = gevent.event.Event()
        self.counters = {"accepted": 0, "no_upstream": 0, "refused_upstream": 0}
        self.door: DoorSync | None = None
        self._door_poke = gevent.event.Event()
        if config.haproxy_admin is not None:
            servers = endpoint_servers([(u.region, u.host, u.port) for u in config.upstreams])
            self.door = DoorSync(
                config.haproxy_admin,
                servers,
                lambda: desired(self.table, self._toxics.values(), servers),
            )

    @property
    def toxics(self) -> dict[str, Toxic]:
        """The toxics in force, by name, in the order they were added."""
        return self._toxics

    # -- events ---------------------------------------------------------------------------

    def emit(self, kind: str, **fields: Any) -> None:
        """Append one event to the router's events file."""
        if self.events is not None:
            self.events.append({"t": fields.pop("t", time.time()), "kind": kind, **fields})
            self.events.flush()

    # -- listener ---------------------------------------------------------------------------

    def open_listener(self) -> None:
        """Bind the client-facing socket (same port as before after a `down` toxic)."""
        if self.listener is not None:
            return
        sock = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        set_nodelay(sock)
        sock.bind((self.config.listen_host, self.listen_port))
        sock.listen(1024)
        self.listen_port = sock.getsockname()[1]
        self.listener = sock
        self._accept = gevent.spawn(self._accept_loop, sock)

    def close_listener(self) -> None:
        """Stop accepting: new connections are refused."""
        if self.listener is None:
            return
        # Stop listening now: gevent defers closing a descriptor that a greenlet waits on,
        # and until then the kernel would still complete handshakes.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        if self._accept is not None:
            self._accept.kill(block=True)
        self.listener.close()
        self.listener = None

    def _accept_loop(self, listener: gsocket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.counters["accepted"] += 1
            gevent.spawn(self._handle, client)

    # -- one connection -----------------------------------------------------------------------

    def _handle(self, client: gsocket.socket) -> None:
        try:
            set_nodelay(client)
        except OSError:
            client.close()
            return
        first = effect_of(self._toxics.values(), (LISTENER,), self.rng)
        if first.reset and first.reset_timeout_ms == 0:
            reset_socket(client)
            return
        upstream, endpoint = self._connect_upstream()
        if upstream is None or endpoint is None:
            self.counters["no_upstream"] += 1
            reset_socket(client)
            return
        conn = Connection(client, upstream, endpoint)
        self.connections.add(conn)
        try:
            conn.apply(effect_of(self._toxics.values(), (LISTENER, endpoint.region), self.rng))
            pumps = [
                gevent.spawn(pump, conn, client, upstream, "upstream", self._flowing, self.rng),
                gevent.spawn(pump, conn, upstream, client, "downstream", self._flowing, self.rng),
            ]
            gevent.joinall(pumps)
        finally:
            self.connections.discard(conn)
            conn.close()

    def _connect_upstream(self) -> tuple[gsocket.socket | None, Endpoint | None]:
        for endpoint in self.table.candidates():
            effect = effect_of(self._toxics.values(), (endpoint.region,), self.rng)
            if effect.down:
                continue
            try:
                sock = gsocket.create_connection(
                    (endpoint.host, endpoint.port), timeout=self.config.connect_timeout_s
                )
            except OSError as exc:
                self.counters["refused_upstream"] += 1
                self._record(endpoint, False, f"connect failed: {exc}")
                continue
            sock.settimeout(None)
            set_nodelay(sock)
            return sock, endpoint
        return None, None

    def _flowing(self, conn: Connection) -> bool:
        """Wait while a timeout toxic holds the connection; False once it is closed."""
        while not conn.closed:
            changed = self._changed
            if not conn.effect.hold:
                return True
            changed.wait(0.5)
        return False

    # -- health -------------------------------------------------------------------------------

    def _health_loop(self, endpoint: Endpoint) -> None:
        health = self.config.health
        while not self.stopped.is_set():
            started = time.monotonic()
            effect = effect_of(self._toxics.values(), (endpoint.region,), self.rng)
            ok, detail = check_endpoint(endpoint.host, endpoint.port, health, effect, self.rng)
            self._record(endpoint, ok, detail)
            gevent.sleep(max(0.0, health.interval_s - (time.monotonic() - started)))

    def _record(self, endpoint: Endpoint, ok: bool, detail: str) -> None:
        for event in self.table.record(endpoint.key, ok, detail, time.time()):
            self._door_poke.set()
            kind = event.pop("kind")
            self.emit(kind, **event)
            if kind == "endpoint_health" and not event["healthy"]:
                self.close_connections(
                    lambda c: c.endpoint == endpoint, f"{endpoint.key} unhealthy"
                )

    def close_connections(self, which: Any, reason: str) -> int:
        """Close the connections `which(conn)` selects; records how many."""
        chosen = [c for c in self.connections if which(c)]
        for conn in chosen:
            conn.close()
        if chosen:
            self.emit("connections_closed", count=len(chosen), reason=reason)
        return len(chosen)

    # -- toxics -------------------------------------------------------------------------------

    def add_toxic(self, body: Any) -> Toxic:
        """Validate and add a toxic; it acts on new and existing connections at once."""
        scopes = self.table.regions
        toxic = toxic_from_json(body, scopes, default_name=f"toxic{next(self._names)}")
        if toxic.name in self._toxics:
            raise KeyError(toxic.name)
        self._toxics[toxic.name] = toxic
        self.emit("toxic_added", toxic=toxic.to_json())
        self._toxics_changed()
        return toxic

    def remove_toxics(self, names: Sequence[str]) -> None:
        """Remove toxics by name (missing names raise KeyError before anything changes)."""
        for name in names:
            if name not in self._toxics:
                raise KeyError(name)
        for name in names:
            self.emit("toxic_removed", toxic=self._toxics.pop(name).to_json())
        self._toxics_changed()

    def _toxics_changed(self) -> None:
        listener_down = any(t.type == "down" and t.scope == LISTENER for t in self._toxics.values())
        if listener_down and self.listener is not None:
            self.close_listener()
            self.close_connections(lambda c: True, "listener down")
            self.emit("listener_down", port=self.listen_port)
        elif not listener_down and self.listener is None:
            self.open_listener()
            self.emit("listener_up", port=self.listen_port)
        for conn in list(self.connections):
            region = conn.endpoint.region
            conn.apply(effect_of(self._toxics.values(), (LISTENER, region), self.rng))
        changed, self._changed = self._changed, gevent.event.Event()
        changed.set()
        self._door_poke.set()

    def _door_loop(self, door: DoorSync) -> None:
        """Keep the HAProxy front door in step: at once on a change, and every 250 ms."""
        while not self.stopped.is_set():
            self._door_poke.wait(0.25)
            self._door_poke.clear()
            door.sync()

    # -- control API ----------------------------------------------------------------------------

    def listen_address(self) -> str:
        """`host:port` of the listener (Toxiproxy's `listen`)."""
        return f"{self.config.listen_host}:{self.listen_port}"

    def upstream_address(self) -> str:
        """`host:port` of the active region's first endpoint (Toxiproxy's `upstream`)."""
        candidates = self.table.candidates()
        endpoint = candidates[0] if candidates else self.table.endpoints[0]
        return f"{endpoint.host}:{endpoint.port}"

    def serve(self) -> None:
        """Listen and trust the upstreams without checking (a proxy made through the API)."""
        self.open_listener()
        for state in self.table.health.values():
            self._record(state.endpoint, True, "health checks off")

    def shutdown(self) -> None:
        """Stop listening and close every connection (a proxy deleted through the API)."""
        self.close_listener()
        self.close_connections(lambda c: True, "proxy deleted")

    def toxiproxy_api(self) -> ToxiproxyApi:
        """The Toxiproxy API subset over this router and the proxies it creates."""

        def make(name: str, host: str, port: int, up_host: str, up_port: int) -> Proxy:
            config = RouterConfig(
                upstreams=(UpstreamAddress(name, up_host, up_port),),
                listen_host=host,
                listen_port=port,
                health=HealthCheck("none"),
                connect_timeout_s=self.config.connect_timeout_s,
            )
            proxy = Proxy(config, self.events)
            proxy.serve()
            self.emit("proxy_created", name=name, listen=proxy.listen_address(),
                      upstream=f"{up_host}:{up_port}")  # fmt: skip
            return proxy

        return ToxiproxyApi(self, make)

    def status(self) -> dict[str, Any]:
        """State for GET /status."""
        per_endpoint: dict[str, int] = {}
        for conn in self.connections:
            per_endpoint[conn.endpoint.key] = per_endpoint.get(conn.endpoint.key, 0) + 1
        snapshot = self.table.snapshot()
        for item in snapshot["endpoints"]:
            item["connections"] = per_endpoint.get(item["key"], 0)
        return snapshot | {
            "listen_port": self.listen_port,
            "listening": self.listener is not None,
            "connections": len(self.connections),
            "counters": dict(self.counters),
            "toxics": [t.to_json() for t in self._toxics.values()],
            "front_door": None
            if self.door is None
            else {
                "haproxy_admin": self.door.admin,
                "push_failures": self.door.failures,
                "last_error": self.door.last_error,
                "servers": None if self.door.pushed is None else dict(self.door.pushed.servers),
            },
        }

    # -- lifecycle -------------------------------------------------------------------------------

    def run(self) -> None:
        """Bind, start checking, report readiness, serve until SIGTERM/SIGINT."""
        self.open_listener()
        control = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
        control.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        set_nodelay(control)
        control.bind((self.config.listen_host, self.config.control_port))
        control.listen(64)
        serve_control(control, control_handler(self, self.toxiproxy_api()))
        for state in self.table.health.values():
            if self.config.health.kind == "none":
                self._record(state.endpoint, True, "health checks off")
            else:
                gevent.spawn(self._health_loop, state.endpoint)
        if self.door is not None:
            gevent.spawn(self._door_loop, self.door)
        control_port = control.getsockname()[1]
        self.emit("router_started", listen_port=self.listen_port, control_port=control_port)
        if self.config.ready_path is not None:
            write_json_atomic(
                self.config.ready_path,
                {"listen_port": self.listen_port, "control_port": control_port},
            )
        for sig in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(sig, self.stopped.set)
        self.stopped.wait()
        self.close_listener()
        self.close_connections(lambda c: True, "router stopping")
        control.close()
        self.emit("router_stopped")


def run_router(config: RouterConfig) -> None:
    """Run a router with `config` in this process until SIGTERM."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):  # two descriptors per proxied connection
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    events = JsonlAppender(config.events_path) if config.events_path is not None else None
    try:
        Proxy(config, events).run()
    finally:
        if events is not None:
            events.close()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m harness.topology.router --config FILE`."""
    parser = argparse.ArgumentParser(prog="python -m harness.topology.router")
    parser.add_argument("--config", type=Path, required=True, help="RouterConfig as JSON")
    args = parser.parse_args(argv)
    config = RouterConfig.from_json(read_json(args.config))
    try:
        run_router(config)
    except OSError as exc:  # binding a port is what fails in practice: say so in one line
        print(f"router: cannot serve on {config.listen_host}: {exc}", file=sys.stderr)
        return 1
    return 0
