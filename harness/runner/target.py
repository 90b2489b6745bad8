"""The system under test of a scenario: the reference deployment, or the user's URL.

`start_target(scenario, run_dir, events)` returns a `Target`: the URL the load and probes
use, tokens for the load users, the readable item ids, the layout for run.json, and what a
fault's context needs (the deployment handle, the router in front). `stop()` always runs.

- `deployment`: a `harness.topology.Deployment` on `<run dir>/deployment/`, shaped by the
  scenario's `[deployment]` table; tokens come from its own keyring (and are issued again
  after a runbook revokes the signing key).
- a URL: used as is (checked reachable). Tokens come from HARNESS_TOKEN_* as for
  `harness run --host`. A `proxy` fault without `control` gets a router of its own placed
  in front of the URL (`<run dir>/router/`), and the load goes through it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import ConfigError
from harness.faults import EventSink, FaultContext
from harness.scenarios.model import Scenario

LOAD_ROLES = ("admin", "user", "viewer", "service")
READBACK_ROLES = ("service", "admin")  # roles holding writes:verify
DEPLOYMENT_DIR = "deployment"


@dataclass
class Target:
    """A started target (see the module docstring)."""

    url: str
    kind: str
    issue_tokens: Callable[[float], dict[str, str]]
    item_ids: tuple[int, ...] | None = None
    topology: dict[str, Any] | None = None
    deployment: Any = None
    proxy: Any = None
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def fault_context(self, sink: EventSink, run_dir: Path) -> FaultContext:
        """What faults and runbook actions get: sink, target URL, deployment, router."""
        return FaultContext(
            sink=sink,
            target_url=self.url,
            deployment=self.deployment,
            proxy=self.proxy,
            run_dir=run_dir,
        )

    def service_pids(self) -> dict[str, int]:
        """The deployment's running service processes by name (`a-0`); none for a URL."""
        if self.deployment is None:
            return {}
        regions = self.deployment.regions
        return {s.name: s.pid for slots in regions.values() for s in slots if s.pid is not None}

    def readback_token(self, ttl_s: float = 600.0) -> str | None:
        """A bearer token allowed to look writes up (`service` or `admin`), if any."""
        tokens = self.issue_tokens(ttl_s)
        return next((tokens[role] for role in READBACK_ROLES if role in tokens), None)

    def stop(self) -> None:
        """Stop what was started for this target, last started first; never raises."""
        while self.stoppers:
            stopper = self.stoppers.pop()
            with contextlib.suppress(Exception):
                stopper()


def deployment_config(scenario: Scenario, data_dir: Path) -> Any:
    """The `DeploymentConfig` of a scenario's `[deployment]` table (ConfigError names it)."""
    from harness.topology.deployment import DeploymentConfig

    spec = scenario.deployment
    try:
        return DeploymentConfig(
            data_dir=data_dir,
            regions=spec.regions,
            processes_per_region=spec.processes_per_region,
            standby_interval_s=spec.standby_interval_s,
            backup_interval_s=spec.backup_interval_s,
            keep_backups=spec.keep_backups,
            seed_items=spec.seed_items,
            database=spec.database,
            synchronous_replication=spec.synchronous_replication,
            replication_lag_ms=spec.replication_lag_ms,
            patroni_ttl_s=spec.patroni_ttl_s,
            front_door=spec.front_door,
        )
    except ConfigError as exc:
        raise ConfigError(str(exc), f"{scenario.source or 'scenario'}: deployment") from None


def start_target(scenario: Scenario, run_dir: Path, events: EventSink) -> Target:
    """Start (or check) the scenario's target; RunFailed when it cannot serve."""
    if scenario.target.kind == "deployment":
        return _start_deployment(scenario, run_dir, events)
    assert scenario.target.url is not None
    return _url_target(scenario, scenario.target.url, run_dir)


def _start_deployment(scenario: Scenario, run_dir: Path, events: EventSink) -> Target:
    from harness.service.tokens import Keyring
    from harness.topology.deployment import Deployment

    config = deployment_config(scenario, run_dir / DEPLOYMENT_DIR)
    deployment = Deployment(config, on_event=events.emit)
    deployment.start()  # stops what it started if it fails
    data_dir = deployment.data_dir

    def issue(ttl_s: float) -> dict[str, str]:
        keyring = Keyring(data_dir)
        return {role: keyring.issue(role, f"load-{role}", ttl_s) for role in LOAD_ROLES}

    return Target(
        url=deployment.url,
        kind="deployment",
        issue_tokens=issue,
        item_ids=tuple(range(1, config.seed_items + 1)),
        topology=deployment.describe(),
        deployment=deployment,
        proxy=deployment.router,
        stoppers=[deployment.stop],
    )


def _url_target(scenario: Scenario, url: str, run_dir: Path) -> Target:
    from harness.load.launch import check_reachable
    from harness.load.worker import env_tokens

    check_reachable(url)
    target = Target(url=url, kind="url", issue_tokens=lambda _ttl: env_tokens())
    if scenario.fault.type == "proxy" and "control" not in scenario.fault.params:
        from harness.topology.router import HealthCheck, Router

        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ConfigError(
                "a proxy fault can stand in front of an http:// target only; "
                "give params.control for a router of your own",
                f"{scenario.source or 'scenario'}: fault.params",
            )
        router = Router(
            [("target", parts.hostname or "127.0.0.1", parts.port or 80)],
            health=HealthCheck("tcp"),
            work_dir=run_dir / "router",
        )
        router.start()
        target.stoppers.append(router.stop)
        target.proxy = router
        target.url = router.url
        target.topology = {"kind": "url", "url": url, "router": router.url}
    return target
