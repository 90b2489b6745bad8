"""`harness worker --master HOST[:PORT] [--cluster-secret-file FILE] [--locustfile FILE]`:
join a distributed run (the secret, or HARNESS_CLUSTER_SECRET, is required)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError

DEFAULT_MASTER_PORT = 5557


@dataclass(frozen=True)
class WorkerConfig:
    """Where the master listens, and the user's locustfile if the run uses one."""

    master_host: str
    master_port: int
    locustfile: Path | None = None
    parent_pid: int | None = None


def parse_master(text: str, where: str = "--master") -> tuple[str, int]:
    """`HOST[:PORT]` (IPv6 as `[::1]:PORT`) into (host, port); ConfigError names `where`."""
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise ConfigError(f"expected HOST[:PORT], got {text!r}", where)
    try:
        port = int(port_text) if port_text else DEFAULT_MASTER_PORT
    except ValueError:
        raise ConfigError(f"expected a port number, got {port_text!r}", where) from None
    if not 0 < port < 65536:
        raise ConfigError(f"expected a port in 1..65535, got {port}", where)
    return host, port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `harness worker`."""
    parser.add_argument(
        "--master",
        required=True,
        metavar="HOST[:PORT]",
        help=f"the master of a `harness run` (port {DEFAULT_MASTER_PORT} if omitted)",
    )
    parser.add_argument(
        "--locustfile",
        type=Path,
        default=None,
        metavar="FILE",
        help="the same locustfile the master runs (default: the harness's own users)",
    )
    from harness.commands.run import add_cluster_arguments

    add_cluster_arguments(parser, metrics=False)
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)


def execute(args: argparse.Namespace) -> int:
    """Run users for the master until it says quit; returns 0."""
    from harness.load.cluster import SECRET_ENV, SECRET_FLAG, load_secret
    from harness.load.locustfile import check_locustfile

    host, port = parse_master(args.master)
    locustfile = check_locustfile(args.locustfile) if args.locustfile else None
    secret = load_secret(args.cluster_secret_file)
    if secret is None:
        raise ConfigError(f"no cluster secret: give {SECRET_FLAG} FILE or set {SECRET_ENV}")
    config = WorkerConfig(host, port, locustfile, args.parent_pid)
    from harness.load.worker import run_worker

    return run_worker(
        config.master_host, config.master_port, secret, config.locustfile, config.parent_pid
    )
