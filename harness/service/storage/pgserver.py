"""A throwaway PostgreSQL server on loopback, for tests and benchmarks that need a real one.

`PostgresServer.start()` runs `initdb` into a fresh directory under /tmp and `pg_ctl start`
on a free loopback port, with its unix socket in that directory; `stop()` stops it and
removes everything. PostgreSQL refuses to run as root, so as root its programs run as the
`postgres` user (`runuser -u postgres --`), and the directory is made theirs: /tmp is
traversable by anyone, a home directory such as /root is not.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from harness.errors import RunFailed

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
"""Where to look for initdb, pg_ctl and postgres (after $HARNESS_PG_BIN)."""
_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_START_TIMEOUT_S = 60


def find_pg_bin() -> tuple[Path | None, str]:
    """The directory holding PostgreSQL's programs, or None and the reason it was not found."""
    candidates = [os.environ.get("HARNESS_PG_BIN", ""), *PG_BIN_DIRS]
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if all(os.access(path / name, os.X_OK) for name in _PROGRAMS):
            if os.geteuid() == 0 and not _has_user("postgres"):
                return None, "running as root and there is no 'postgres' user to run PostgreSQL"
            return path, ""
    where = ", ".join(filter(None, candidates))
    return None, f"PostgreSQL programs ({', '.join(_PROGRAMS)}) not found in {where}"


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in its own temporary directory, on 127.0.0.1:`port`.

    Authentication is `trust` for loopback and the socket: it is a test server, reachable
    only from this machine. `fsync` stays on unless turned off for speed.
    """

    def __init__(
        self, bin_dir: Path, *, fsync: bool = True, preload_libraries: tuple[str, ...] = ()
    ) -> None:
        self.bin_dir = bin_dir
        self.fsync = fsync
        self.preload_libraries = preload_libraries
        """`shared_preload_libraries`, e.g. pg_stat_statements (docs/profiling.md)."""
        self.port = 0
        self.root: Path | None = None
        self._as_postgres = os.geteuid() == 0

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        assert self.root is not None, "not started"
        return self.root / "data"

    def dsn(self, dbname: str = "postgres") -> str:
        """A postgresql:// URL for database `dbname` over TCP loopback."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> PostgresServer:
        """initdb into a new directory and start the server; RunFailed if it does not come up."""
        self.root = Path(tempfile.mkdtemp(prefix="harness-pg-", dir="/tmp"))
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        self.port = _free_port()
        self._pg_ctl_start()
        return self

    def _pg_ctl_start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=200"
        )
        if self.preload_libraries:
            options += f" -c shared_preload_libraries={','.join(self.preload_libraries)}"
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w",
            "-t", str(_START_TIMEOUT_S), "-o", options, "start",
        )  # fmt: skip

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        assert self.root is not None, "not started"
        return self.root / "server.log"

    def restart(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: clean shutdown, `immediate`: as a crash) and start it
        again on the same port; every client connection is cut."""
        self.stop_server(mode)
        self.start_server()

    def start_server(self) -> None:
        """Start the server again, on the same port, after `stop_server`."""
        self._pg_ctl_start()

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (start it again with `restart`)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        """Create database `name`; its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.dsn(name)

    def stop(self) -> None:
        """Stop the server (immediately) and remove its directory."""
        if self.root is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(RunFailed):  # already gone; the directory goes anyway
                self.stop_server("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=_START_TIMEOUT_S + 30,
            check=False,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise RunFailed(f"{program} failed ({result.returncode}): {' '.join(detail[-3:])}")

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
