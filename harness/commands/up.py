"""`harness up`: start the reference deployment in the background and print the front door's URL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `harness up`."""
    parser.add_argument(
        "--data-dir", type=Path, default=Path("data"),
        help="database, standby, backups, logs and deployment.json (default ./data)",
    )  # fmt: skip
    parser.add_argument("--regions", type=int, default=2, help="regions (default 2)")
    parser.add_argument(
        "--processes-per-region", type=int, default=1, help="service processes per region"
    )
    parser.add_argument(
        "--seed-items", type=int, default=10_000, help="items seeded into a new database"
    )
    parser.add_argument(
        "--port", type=int, default=8080,
        help="the front door's port (default 8080; 0 = any free)",
    )  # fmt: skip
    parser.add_argument(
        "--front-door", choices=("auto", "haproxy", "router"), default="auto",
        help="what clients connect to: haproxy (driven by the router, which takes the traffic "
        "only while a toxic is in force), router (everything through it), auto (default: "
        "haproxy when installed, else the router)",
    )  # fmt: skip
    parser.add_argument(
        "--standby-interval", default="1s", help="how often the standby is synced (default 1s)"
    )
    parser.add_argument(
        "--backup-interval", default="30s", help="how often a backup is taken (default 30s)"
    )
    parser.add_argument("--keep-backups", type=int, default=5, help="backups kept (default 5)")
    parser.add_argument(
        "--timeout", default="90s", help="how long to wait for readiness (default 90s)"
    )
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql"), default="sqlite",
        help="sqlite (embedded, default) or postgresql: etcd + two Patroni nodes + HAProxy",
    )  # fmt: skip
    parser.add_argument(
        "--synchronous", action="store_true",
        help="with postgresql: Patroni's synchronous_mode (no acknowledged write lost)",
    )  # fmt: skip


def execute(args: argparse.Namespace) -> int:
    """Start the deployment detached; print its URL on stdout, details on stderr."""
    from harness.durations import parse_duration_s
    from harness.topology.daemon import up
    from harness.topology.deployment import DeploymentConfig

    config = DeploymentConfig(
        data_dir=args.data_dir,
        regions=args.regions,
        processes_per_region=args.processes_per_region,
        seed_items=args.seed_items,
        router_port=args.port,
        standby_interval_s=parse_duration_s(args.standby_interval, "--standby-interval"),
        backup_interval_s=parse_duration_s(args.backup_interval, "--backup-interval"),
        keep_backups=args.keep_backups,
        database=args.database,
        synchronous_replication=args.synchronous,
        front_door=args.front_door,
    )
    state = up(config, timeout_s=parse_duration_s(args.timeout, "--timeout"))
    regions = ", ".join(f"{name} {ports}" for name, ports in state["regions"].items())
    if state.get("postgres"):
        regions += f"; PostgreSQL leader via HAProxy {state['postgres']}"
    print(state["url"], flush=True)
    print(
        f"harness up: front door {state['url']} (router control {state['control']}), "
        f"regions {regions}; "
        f"stop with: harness down --data-dir {args.data_dir}",
        file=sys.stderr,
    )
    return 0
