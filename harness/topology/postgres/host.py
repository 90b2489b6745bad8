"""What the cluster needs from this machine: the binaries, the user PostgreSQL runs as, and
a directory that user can reach.

PostgreSQL and Patroni refuse to run as root. Run by root (as in CI), they run as the
`postgres` user through `runuser -u postgres --`, and every parent directory of their data
must be traversable by that user, the files owned by it; etcd and HAProxy stay root. Run by
anyone else, everything runs as the caller.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError

POSTGRES_USER = "postgres"
PACKAGES = {
    "etcd": "etcd-server",
    "patroni": "patroni",
    "haproxy": "haproxy",
    "postgres": "postgresql-15",
    "pg_basebackup": "postgresql-15",
}


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every program the cluster starts."""

    etcd: str
    patroni: str
    haproxy: str
    bin_dir: Path

    def pg(self, name: str) -> str:
        """A PostgreSQL program (`pg_basebackup`, `postgres`, ...)."""
        return str(self.bin_dir / name)


def missing_binaries(bin_dir: Path) -> list[str]:
    """Names of the programs not installed here (empty when the cluster can start)."""
    missing = [name for name in ("etcd", "patroni", "haproxy") if shutil.which(name) is None]
    missing += [n for n in ("postgres", "pg_basebackup") if not (bin_dir / n).is_file()]
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            missing.append(f"the {POSTGRES_USER} user")
    return missing


def find_binaries(bin_dir: Path) -> Binaries:
    """The programs, or ConfigError naming what is missing and the Debian package."""
    missing = missing_binaries(bin_dir)
    if missing:
        packages = sorted({PACKAGES.get(name, POSTGRES_USER) for name in missing})
        raise ConfigError(
            f"missing {', '.join(missing)} (install Debian's {' '.join(packages)})",
            "postgresql",
        )
    found = {name: shutil.which(name) for name in ("etcd", "patroni", "haproxy")}
    return Binaries(bin_dir=bin_dir, **{k: str(v) for k, v in found.items()})


@dataclass(frozen=True)
class RunAs:
    """Who PostgreSQL runs as: the `postgres` user when we are root, else ourselves."""

    uid: int
    gid: int
    prefix: tuple[str, ...]

    @classmethod
    def current(cls) -> RunAs:
        """Decide once, from our own uid."""
        if os.geteuid() != 0:
            return cls(os.geteuid(), os.getegid(), ())
        entry = pwd.getpwnam(POSTGRES_USER)
        return cls(entry.pw_uid, entry.pw_gid, ("runuser", "-u", POSTGRES_USER, "--"))

    def own(self, path: Path, mode: int = 0o700) -> Path:
        """Create `path` (if needed) owned by this user with `mode`."""
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, self.uid, self.gid)
        path.chmod(mode)
        return path

    def write(self, path: Path, text: str, mode: int = 0o600) -> Path:
        """Write a file this user owns (a config holding passwords stays 0600)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chown(path, self.uid, self.gid)
        path.chmod(mode)
        return path

    def can_traverse(self, path: Path) -> bool:
        """True when every existing directory from / down to `path` lets this user in."""
        for directory in [*reversed(path.parents), path]:
            if not directory.exists():
                break
            info = directory.stat()
            if info.st_uid == self.uid:
                bits = stat.S_IXUSR
            elif info.st_gid == self.gid:
                bits = stat.S_IXGRP
            else:
                bits = stat.S_IXOTH
            if self.uid != 0 and not info.st_mode & bits:
                return False
        return True


def cluster_directory(data_dir: Path, run_as: RunAs) -> Path:
    """`<data_dir>/postgres`, or a fresh directory under the system's temp dir when the
    PostgreSQL user cannot reach `data_dir` (the caller records where)."""
    wanted = data_dir.resolve() / "postgres"
    if run_as.can_traverse(wanted.parent):
        wanted.mkdir(parents=True, exist_ok=True)
        wanted.chmod(0o755)
        return wanted
    path = Path(tempfile.mkdtemp(prefix="harness-postgres-"))
    path.chmod(0o755)
    wanted.mkdir(parents=True, exist_ok=True)  # where its logs are kept when it stops
    (wanted / "location.txt").write_text(f"{path}\n")
    return path
