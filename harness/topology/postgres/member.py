"""One cluster member: its Patroni process, the postmaster Patroni starts, and the link proxy
its replicas stream from.

Patroni starts the postmaster in a session of its own (so it outlives Patroni, as with
`pg_ctl`); the postmaster's pid is the first line of `<data>/postmaster.pid`, and its
backends share its process group, so a signal to that group reaches every PostgreSQL
process of the member.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from harness.topology.postgres.host import RunAs
from harness.topology.postgres.patroni import MemberPorts, PatroniClient
from harness.topology.processes import ManagedProcess, is_alive, spawn, wait_for
from harness.topology.router import HealthCheck, Router


class Member:
    """A Patroni member (not started until `start`)."""

    def __init__(
        self, ports: MemberPorts, directory: Path, patroni: str, run_as: RunAs,
        env: dict[str, str],
    ) -> None:  # fmt: skip
        self.ports = ports
        self.name = ports.name
        self.directory = directory
        self.patroni_bin = patroni
        self.run_as = run_as
        self.env = env
        self.process: ManagedProcess | None = None
        self.rest = PatroniClient(ports.rest_port)
        self.link = Router(
            [(self.name, "127.0.0.1", ports.pg_port)],
            listen_port=ports.link_port,
            health=HealthCheck("none"),
            work_dir=directory.parent / "links" / self.name,
        )

    @property
    def config_path(self) -> Path:
        """Patroni's configuration file."""
        return self.directory / "patroni.yml"

    @property
    def data_dir(self) -> Path:
        """The PostgreSQL data directory."""
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        """Patroni's and PostgreSQL's output."""
        return self.directory.parent / "logs" / f"{self.name}.log"

    def start(self) -> ManagedProcess:
        """Start Patroni (which initializes, clones or starts PostgreSQL)."""
        argv = [*self.run_as.prefix, self.patroni_bin, str(self.config_path)]
        self.process = spawn(f"patroni-{self.name}", argv, self.log_path, self.env)
        return self.process

    def patroni_running(self) -> bool:
        """True while the Patroni process we started runs."""
        return self.process is not None and self.process.poll() is None

    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid (from postmaster.pid), None when none runs."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if is_alive(pid) else None

    def kill(self, sig: int = signal.SIGKILL) -> list[int]:
        """Signal Patroni's process group and then the postmaster's (every backend with it):
        the member is lost as a machine would be. Returns the pids signalled."""
        pids = []
        if self.process is not None and self.process.poll() is None:
            self.process.signal(sig)
            pids.append(self.process.pid)
        postmaster = self.postmaster_pid()
        if postmaster is not None:
            with contextlib.suppress(ProcessLookupError):
                # Patroni's launcher called setsid before starting it: the group is the
                # launcher's, shared by the postmaster and its backends.
                os.killpg(os.getpgid(postmaster), sig)
            pids.append(postmaster)
        return pids

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop Patroni (SIGTERM: it shuts PostgreSQL down fast), then anything left."""
        if self.process is not None:
            self.process.stop(timeout_s)
        if self.postmaster_pid() is not None:  # Patroni was killed, or did not get to stop it
            self.kill(signal.SIGKILL)
            wait_for(lambda: self.postmaster_pid() is None, timeout_s, f"{self.name} to stop")
