"""Connection-level forwarding for the router: a client connection paired with its upstream
connection, the toxics' effect on it, and one direction of it (a `Pipe`, fed by `pump`).
Router process only (gevent sockets)."""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import struct
import time
from collections.abc import Callable
from typing import Literal

import gevent
import gevent.queue
from gevent import socket as gsocket

from harness.topology.routing import Endpoint
from harness.topology.toxics import Effect

CHUNK_BYTES = 65536
_QUEUE_CHUNKS = 64

StreamName = Literal["upstream", "downstream"]
Flowing = Callable[["Connection"], bool]
"""Waits while a `timeout` toxic holds a connection; False once the connection is closed."""


class Connection:
    """One client connection and its upstream connection."""

    _ids = itertools.count(1)

    def __init__(
        self, client: gsocket.socket, upstream: gsocket.socket, endpoint: Endpoint
    ) -> None:
        self.id = next(self._ids)
        self.client = client
        self.upstream = upstream
        self.endpoint = endpoint
        self.effect = Effect()
        self.generation = 0
        self.closed = False
        self.bytes = {"upstream": 0, "downstream": 0}

    def close(self, reset: bool = False) -> None:
        """Close both sides; `reset` sends the client an RST (SO_LINGER 0) instead of a FIN."""
        if self.closed:
            return
        self.closed = True
        if reset:
            reset_socket(self.client)
        else:
            close_socket(self.client)
        close_socket(self.upstream)

    def apply(self, effect: Effect) -> None:
        """Take the toxics' effect now; schedule its reset or hold timeout."""
        self.effect = effect
        self.generation += 1
        generation = self.generation
        if effect.down:
            self.close()
            return
        if effect.reset:
            gevent.spawn_later(effect.reset_timeout_ms / 1000, self._reset_if, generation)
        if effect.hold and effect.hold_timeout_ms > 0:
            gevent.spawn_later(effect.hold_timeout_ms / 1000, self._close_if, generation)

    def _reset_if(self, generation: int) -> None:
        if self.generation == generation:
            self.close(reset=True)

    def _close_if(self, generation: int) -> None:
        if self.generation == generation and self.effect.hold:
            self.close()


def close_socket(sock: gsocket.socket) -> None:
    """Shut down both ways (a FIN) and close."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def reset_socket(sock: gsocket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets an RST (ECONNRESET), not a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Pipe:
    """One direction of a connection. A chunk is sent at once unless it is delayed or earlier
    chunks still wait; then a writer greenlet sends the queued chunks in order, each when its
    time comes (pipelined: a delay is added once, not once per chunk)."""

    def __init__(self, conn: Connection, dst: gsocket.socket, flowing: Flowing) -> None:
        self.flowing = flowing
        self.conn = conn
        self.dst = dst
        self.pending = 0
        self.failed = False
        self.chunks: gevent.queue.Queue[tuple[float, bytes] | None] | None = None
        self.writer: gevent.Greenlet | None = None

    def send(self, data: bytes, delay_s: float) -> None:
        """Send now or queue; raises OSError when the connection is gone."""
        if delay_s <= 0 and self.pending == 0:
            if not self.flowing(self.conn):
                raise OSError("connection closed")
            self.dst.sendall(data)
            return
        if self.chunks is None:
            self.chunks = gevent.queue.Queue(_QUEUE_CHUNKS)
            self.writer = gevent.spawn(self._write, self.chunks)
        self.pending += 1
        self.chunks.put((time.monotonic() + delay_s, data))

    def finish(self) -> None:
        """Flush what is queued, then pass the half-close on."""
        if self.chunks is not None and self.writer is not None:
            self.chunks.put(None)
            self.writer.join()
        if not self.failed and not self.conn.closed:
            with contextlib.suppress(OSError):
                self.dst.shutdown(socket.SHUT_WR)

    def _write(self, chunks: gevent.queue.Queue[tuple[float, bytes] | None]) -> None:
        while (item := chunks.get()) is not None:
            if not self.failed:  # after a failure keep draining: the reader must not block
                send_at, data = item
                wait_s = send_at - time.monotonic()
                if wait_s > 0:
                    gevent.sleep(wait_s)
                try:
                    if not self.flowing(self.conn):
                        raise OSError("connection closed")
                    self.dst.sendall(data)
                except OSError:
                    self.failed = True
                    self.conn.close()
            self.pending -= 1


def pump(
    conn: Connection,
    src: gsocket.socket,
    dst: gsocket.socket,
    stream: StreamName,
    flowing: Flowing,
    rng: random.Random,
) -> None:
    """Forward `src` to `dst`: straight through, or via a queue when a chunk is delayed."""
    pipe = Pipe(conn, dst, flowing)
    exhausted = False
    try:
        while flowing(conn):
            data = src.recv(CHUNK_BYTES)
            if not data:
                break
            effect = conn.effect
            limit = effect.byte_limit(stream)
            if limit is not None and conn.bytes[stream] + len(data) >= limit:
                data = data[: max(0, int(limit) - conn.bytes[stream])]  # limit_data
                exhausted = True
            conn.bytes[stream] += len(data)
            rate = effect.rate_bytes_per_s(stream)
            if rate:  # bandwidth: 100 ms slices, each leaving after its time at the rate
                step = max(1, int(rate / 10))
                for start in range(0, len(data), step):
                    piece = data[start : start + step]
                    gevent.sleep(len(piece) / rate)
                    pipe.send(piece, effect.delay_s(stream, rng))
            else:
                pipe.send(data, effect.delay_s(stream, rng))
            if exhausted:
                break
    except OSError:
        conn.close()
    finally:
        pipe.finish()
        if exhausted:
            conn.close()
