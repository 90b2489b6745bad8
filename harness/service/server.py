"""Serving the app: `serve()` runs granian in this process (what `harness serve` does);
`start_service()` runs `harness serve` as a child process and hands back a handle.

`serve()` prepares the data dir once (schema, seed, signing keys) before granian spawns its
worker processes, passes the config to them in HARNESS_* env vars, and prints
`serving http://HOST:PORT` once /readyz answers 200. granian stops its workers on SIGINT and
SIGTERM.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

from harness.errors import RunFailed
from harness.service.config import ENV_DATABASE, ENV_STATEMENT_TIMING, ServiceConfig

READY_LINE_PREFIX = "serving "
APP_FACTORY = "harness.service.app:create_app"
_LOG_CONFIG: dict[str, Any] = {
    "handlers": {
        "console": {
            "formatter": "generic",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
        },
        "access": {
            "formatter": "access",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "harness": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}


def base_url(host: str, port: int) -> str:
    """`http://host:port`, with brackets around an IPv6 host."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _NoDelayConnection(http.client.HTTPConnection):
    """An HTTP connection with Nagle off, as on every socket the harness owns."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def probe_status(host: str, port: int, path: str = "/readyz", timeout_s: float = 2.0) -> int | None:
    """The HTTP status of GET `path`, or None when nothing answered."""
    conn = _NoDelayConnection(host, port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def pick_free_port(host: str) -> int:
    """A port that was free on `host` a moment ago (the kernel picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def prepare_data_dir(config: ServiceConfig) -> int:
    """Create the schema, seed once and create the signing keys; returns items seeded now.

    Runs once in the serving process, so worker processes never race to create these.
    """
    from harness.service.metrics import remove_dead_snapshots
    from harness.service.storage.factory import prepare_database
    from harness.service.tokens import Keyring

    config.data_dir.mkdir(parents=True, exist_ok=True)
    seeded = prepare_database(config.database, config.items_db_path, config.seed_items)
    Keyring(config.data_dir)
    remove_dead_snapshots(config.metrics_dir)
    remove_dead_snapshots(config.statements_dir)
    return seeded


def _announce_when_ready(
    host: str, port: int, announce: Callable[[str], None], stop: threading.Event, wait_s: float
) -> None:
    deadline = time.monotonic() + wait_s
    while not stop.is_set() and time.monotonic() < deadline:
        if probe_status(host, port, timeout_s=1.0) == 200:
            announce(f"{READY_LINE_PREFIX}{base_url(host, port)}")
            return
        stop.wait(0.05)
    if not stop.is_set():
        print(f"harness serve: not ready after {wait_s:.0f}s", file=sys.stderr, flush=True)


def _print_flush(line: str) -> None:
    print(line, flush=True)


def serve(
    config: ServiceConfig,
    *,
    announce: Callable[[str], None] = _print_flush,
    ready_wait_s: float = 120.0,
) -> None:
    """Serve until SIGINT or SIGTERM; raises RunFailed if a worker process dies."""
    from granian import Granian
    from granian.constants import Interfaces

    prepare_data_dir(config)
    port = config.port or pick_free_port(config.host)
    os.environ.update(config.to_env())
    # Workers start from a fresh interpreter: no inherited SQLite handles, threads or locks.
    multiprocessing.set_start_method("spawn", force=True)
    server = Granian(
        APP_FACTORY,
        address=config.host,
        port=port,
        interface=Interfaces.WSGI,
        workers=config.workers,
        blocking_threads=config.threads,
        factory=True,
        log_dictconfig=_LOG_CONFIG,
    )
    stop = threading.Event()
    watcher = threading.Thread(
        target=_announce_when_ready,
        args=(config.host, port, announce, stop, ready_wait_s),
        name="ready-announcer",
        daemon=True,
    )
    watcher.start()
    try:
        server.serve()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RunFailed(f"a worker process exited unexpectedly (code {exc.code})") from None
    finally:
        stop.set()


class ServiceProcess:
    """A `harness serve` child process in its own process group.

    `url` is its base URL, `port` its port, `pid` the serving process, `config` what it runs.
    """

    def __init__(
        self, process: subprocess.Popen[str], url: str, stderr: IO[bytes], config: ServiceConfig
    ) -> None:
        self.process = process
        self.config = config
        self.url = url
        self.pid = process.pid
        self.port = int(url.rsplit(":", 1)[1])
        self._stderr = stderr
        self.stdout_reader: threading.Thread | None = None

    def stop(self, timeout_s: float = 10) -> int | None:
        """SIGTERM the server, SIGKILL its whole group after `timeout_s`; its exit code."""
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGTERM)
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(self.pid)
        code = self.process.wait(timeout=timeout_s)
        if self.stdout_reader is not None:
            self.stdout_reader.join(timeout=timeout_s)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()
        return code

    def stderr_tail(self, lines: int = 20) -> str:
        """The last lines the server wrote to stderr."""
        return _tail(self._stderr, lines)

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(handle: IO[bytes], lines: int) -> str:
    try:
        handle.flush()
        handle.seek(0)
        text = handle.read().decode(errors="replace")
    except (OSError, ValueError):
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def serve_command(config: ServiceConfig) -> list[str]:
    """The `python -m harness serve ...` command line for `config`."""
    command = [sys.executable, "-m", "harness", "serve", "--host", config.host]
    command += ["--port", str(config.port), "--workers", str(config.workers)]
    command += ["--data-dir", str(config.data_dir), "--seed-items", str(config.seed_items)]
    command += ["--threads", str(config.threads)]
    if config.db_path is not None:
        command += ["--db-path", str(config.db_path)]
    return command


def start_service(config: ServiceConfig, *, ready_timeout_s: float = 30.0) -> ServiceProcess:
    """Start `harness serve` for `config` and return once /readyz answers 200.

    Raises RunFailed, with the tail of the server's stderr, if it exits or is not ready
    within `ready_timeout_s` (then it is killed).
    """
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the ServiceProcess
    # The database URL may hold a password: it goes in the environment, not in argv.
    env = {**os.environ, ENV_DATABASE: config.database}
    env[ENV_STATEMENT_TIMING] = "1" if config.statement_timing else "0"
    process = subprocess.Popen(
        serve_command(config),
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    ready = threading.Event()
    found: list[str] = []
    recent: collections.deque[str] = collections.deque(maxlen=50)

    def read_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            recent.append(line.rstrip())
            if line.startswith(READY_LINE_PREFIX) and not found:
                found.append(line[len(READY_LINE_PREFIX) :].strip())
                ready.set()

    reader = threading.Thread(target=read_stdout, name="serve-stdout", daemon=True)
    reader.start()
    deadline = time.monotonic() + ready_timeout_s
    while not ready.wait(0.05):
        failure = None
        if process.poll() is not None:
            failure = f"the service exited with code {process.returncode} before it was ready"
        elif time.monotonic() > deadline:
            failure = f"the service was not ready within {ready_timeout_s:g}s"
        if failure is not None:
            handle = ServiceProcess(process, base_url(config.host, 0), stderr, config)
            handle.stdout_reader = reader
            tail = handle.stderr_tail()
            handle.stop(timeout_s=2)
            raise RunFailed(f"{failure}; stderr: {tail or '(empty)'}")
    service = ServiceProcess(process, found[0], stderr, config)
    service.stdout_reader = reader
    if probe_status(config.host, service.port) != 200:
        tail = service.stderr_tail()
        service.stop(timeout_s=2)
        raise RunFailed(f"the service announced {service.url} but /readyz is not 200; {tail}")
    return service
