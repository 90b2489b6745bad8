"""What a run starts around the master: the target (embedded service or a URL) and workers.

- `check_reachable(url)`: a TCP connect to a `--host` target before anything starts.
- `EmbeddedService`: the reference service on a free loopback port, its data inside the
  run directory (`service-data/`), and bearer tokens for each role from its keyring.
- `LocalWorkers`: `python -m harness worker` processes in their own sessions (a terminal's
  Ctrl-C reaches only the master, which stops them in order), stderr kept for diagnosis.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from harness.errors import ConfigError, RunFailed
from harness.load.cluster import ClusterSecret
from harness.load.messages import ROLES

TOKEN_TTL_MARGIN_S = 3600.0
WORKER_EXIT_TIMEOUT_S = 5.0


def check_target_url(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) base URL; ConfigError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"expected a base URL such as http://127.0.0.1:8000, got {url!r}", "--host"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ConfigError(f"expected a port number in {url!r}", "--host") from None
    return parts.hostname, port


def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """RunFailed, in one line, when nothing accepts a TCP connection at the target."""
    host, port = check_target_url(url)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RunFailed(f"target {url} is unreachable: {reason}") from None


class EmbeddedService:
    """The reference service started for one run, stopped with it."""

    def __init__(self, data_dir: Path, seed_items: int, workers: int = 1) -> None:
        from harness.service.config import ServiceConfig
        from harness.service.server import start_service

        self.data_dir = data_dir
        self.seed_items = seed_items
        config = ServiceConfig(
            host="127.0.0.1", port=0, workers=workers, data_dir=data_dir, seed_items=seed_items
        )
        self.process = start_service(config, ready_timeout_s=30)
        self.url: str = self.process.url
        self.pid: int = self.process.pid

    def tokens(self, ttl_s: float) -> dict[str, str]:
        """One token per role, signed with the service's own keyring."""
        from harness.service.tokens import Keyring

        keyring = Keyring(self.data_dir)
        return {role: keyring.issue(role, f"load-{role}", ttl_s) for role in ROLES}

    def item_ids(self) -> list[int]:
        """The seeded items (ids 1..N), which the load never deletes."""
        return list(range(1, self.seed_items + 1))

    def stop(self) -> None:
        """Stop the service (SIGTERM, then its whole process group)."""
        self.process.stop()


class LocalWorkers:
    """N `harness worker` processes on this machine, joined to the master at `port`."""

    def __init__(
        self, count: int, port: int, locustfile: Path | None, secret: ClusterSecret
    ) -> None:
        self.count = count
        self.port = port
        self.locustfile = locustfile
        self.secret = secret
        self.processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def command(self) -> list[str]:
        """The command line of one local worker."""
        command = [sys.executable, "-m", "harness", "worker", "--master", f"127.0.0.1:{self.port}"]
        command += ["--parent-pid", str(os.getpid())]
        if self.locustfile is not None:
            command += ["--locustfile", str(self.locustfile)]
        return command

    def start(self) -> None:
        """Start every worker process."""
        for _ in range(self.count):
            log = tempfile.TemporaryFile()  # noqa: SIM115 - kept until stop()
            self._logs.append(log)
            self.processes.append(
                subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,
                    env={**os.environ, **self.secret.env()},  # never on the command line
                )
            )

    def failure(self) -> str | None:
        """Why no local worker can join any more (all exited), or None."""
        if not self.processes or any(p.poll() is None for p in self.processes):
            return None
        codes = sorted({p.returncode for p in self.processes})
        return f"every local worker exited (codes {codes}): {self.last_error() or 'no output'}"

    def last_error(self) -> str:
        """The last line a worker wrote to stderr."""
        for log in self._logs:
            with contextlib.suppress(OSError, ValueError):
                log.seek(0)
                lines = log.read().decode(errors="replace").strip().splitlines()
                if lines:
                    return lines[-1][:300]
        return ""

    def stop(self) -> list[str]:
        """Wait for the workers to leave (the master said quit), then end stragglers."""
        deadline = time.monotonic() + WORKER_EXIT_TIMEOUT_S
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=2)
        problems = [
            f"local worker pid {p.pid} exited with code {p.returncode}"
            for p in self.processes
            if p.returncode not in (0, None)
        ]
        for log in self._logs:
            log.close()
        return problems
