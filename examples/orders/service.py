"""A small order service that knows nothing of the harness: stdlib WSGI, its own SQLite.

    python service.py --port 8077 --data-dir /tmp/harness-orders [--flush-every 20 --keep 5]

    POST /orders  {"id": "...", "qty": 3}  -> 201 {"id": ...}   (acknowledged)
    GET  /orders/<id>                      -> 200 or 404         (from the database)
    GET  /health                           -> 200

It acknowledges a write before it is durable: writes wait in memory and the oldest
`--flush-every` are written to SQLite once `flush-every + keep` are waiting, so the newest
`--keep` (at least) are never on disk. A SIGKILL loses exactly the waiting ones. Every
acknowledgement is also appended to `acks.log` before the answer is sent, so that
`python service.py --report-lost --data-dir DIR` can say which acknowledged writes the
database does not hold: the truth the harness's read-back is checked against.
`--daemon` starts it in the background and returns once it accepts connections.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

SCHEMA = "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, qty INTEGER, t REAL)"


class Store:
    """Orders in SQLite, written behind: acknowledged first, flushed in batches."""

    def __init__(self, data_dir: Path, flush_every: int, keep: int) -> None:
        self.db = sqlite3.connect(data_dir / "orders.db", check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(SCHEMA)
        self.db.commit()
        self.acks = os.open(data_dir / "acks.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.flush_every = flush_every
        self.keep = keep
        self.waiting: list[tuple[str, int, float]] = []
        self.lock = threading.Lock()

    def add(self, order_id: str, qty: int) -> None:
        with self.lock:
            self.waiting.append((order_id, qty, time.time()))
            os.write(self.acks, f"{order_id}\n".encode())  # survives a SIGKILL: page cache
            if len(self.waiting) >= self.flush_every + self.keep:
                batch, self.waiting = (self.waiting[: self.flush_every],
                                       self.waiting[self.flush_every :])  # fmt: skip
                self.db.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?, ?)", batch)
                self.db.commit()

    def has(self, order_id: str) -> bool:
        with self.lock:
            row = self.db.execute("SELECT 1 FROM orders WHERE id = ?", (order_id,)).fetchone()
        return row is not None


def app_for(store: Store):  # type: ignore[no-untyped-def]
    def app(environ, start_response):  # type: ignore[no-untyped-def]
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")

        def answer(status: str, body: dict[str, object]):  # type: ignore[no-untyped-def]
            data = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(data)))])  # fmt: skip
            return [data]

        if path == "/health":
            return answer("200 OK", {"ok": True})
        if path == "/orders" and method == "POST":
            try:
                size = int(environ.get("CONTENT_LENGTH") or 0)
                order = json.loads(environ["wsgi.input"].read(size))
                order_id, qty = str(order["id"]), int(order.get("qty", 1))
            except (ValueError, KeyError, TypeError):
                return answer("400 Bad Request", {"error": "expected {id, qty}"})
            store.add(order_id, qty)
            return answer("201 Created", {"id": order_id})
        if path.startswith("/orders/") and method == "GET":
            found = store.has(path.removeprefix("/orders/"))
            return answer("200 OK" if found else "404 Not Found", {"found": found})
        return answer("404 Not Found", {"error": "no such route"})

    return app


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def get_request(self):  # type: ignore[no-untyped-def]
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no delayed-ACK stalls
        return conn, addr


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(args: argparse.Namespace) -> None:
    args.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(args.data_dir, args.flush_every, args.keep)
    server = make_server("127.0.0.1", args.port, app_for(store), Server, QuietHandler)
    (args.data_dir / "orders.pid").write_text(f"{os.getpid()}\n")
    server.serve_forever()


def daemonize(args: argparse.Namespace) -> int:
    """Fork the server into its own session; return once it accepts connections."""
    if os.fork() == 0:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        serve(args)
        os._exit(0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=0.5).close()
            return 0
        except OSError:
            time.sleep(0.05)
    print("the service did not start", file=sys.stderr)
    return 1


def report_lost(data_dir: Path) -> int:
    """Print, as JSON, the acknowledged writes the database does not hold."""
    acked = dict.fromkeys((data_dir / "acks.log").read_text().split())
    db = sqlite3.connect(f"file:{data_dir / 'orders.db'}?mode=ro", uri=True)
    held = {row[0] for row in db.execute("SELECT id FROM orders")}
    print(json.dumps({"acknowledged": len(acked), "lost": [k for k in acked if k not in held]}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8077)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/harness-orders"))
    parser.add_argument("--flush-every", type=int, default=20)
    parser.add_argument("--keep", type=int, default=5, help="newest writes never flushed")
    parser.add_argument("--daemon", action="store_true")
    parser.add_argument("--report-lost", action="store_true")
    args = parser.parse_args()
    if args.report_lost:
        return report_lost(args.data_dir)
    if args.daemon:
        return daemonize(args)
    serve(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
