"""Connection-level forwarding for the router: a client connection paired with its upstream
connection, and one direction of it (a `Pipe`). Router process only (gevent sockets)."""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import time
from collections.abc import Callable

import gevent
import gevent.queue
from gevent import socket as gsocket

from harness.topology.routing import Endpoint
from harness.topology.toxics import Effect

CHUNK_BYTES = 65536
_QUEUE_CHUNKS = 64


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

    def __init__(
        self, conn: Connection, dst: gsocket.socket, flowing: Callable[[Connection], bool]
    ) -> None:
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
