"""API Failure and Complete Outage: service processes (and the router) really killed.

- `api_failure` SIGKILLs (by default) every service process of one region, whole process
  groups. The supervisor restarts them on their ports; meanwhile the router sends new
  connections to the other region. With `restart = false` they stay down until the
  runbook's `restore_region` (or clear).
- `complete_outage` kills every process of the deployment, router and replicator included,
  and holds them down: nothing answers on the router's port. Recovery is a cold start from
  what is on disk (the runbook's `cold_start`, or clear). Acknowledged writes survive: the
  service commits with `synchronous = FULL`.

The runbook actions that bring processes back (`cold_start`, `restore_region`) and the one
that waits for the router to answer (`wait_ready`) are here too.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from harness.errors import RunFailed
from harness.faults.base import FaultContext, FaultError
from harness.faults.dr.common import http_request, require_deployment, target_url, wait_until
from harness.toml_table import Table

CLEAR_TIMEOUT_S = 60.0
ACTIVE_TIMEOUT_S = 10.0
"""How long `region = "active"` waits for the router to name an active region."""


def _signal_param(params: Table, default: str = "SIGKILL") -> signal.Signals:
    value = params.string("signal", default)
    name = value.upper() if value.upper().startswith("SIG") else f"SIG{value.upper()}"
    if name not in ("SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGABRT"):
        raise params.error(
            f"expected a signal that ends a process (SIGKILL, SIGTERM, SIGINT, "
            f"SIGQUIT, SIGABRT), got {value!r}",
            "signal",
        )
    return signal.Signals[name]


class ApiFailureFault:
    """Kill every service process of one region; the supervisor restarts them.

    `region = "active"` means the region the router sends new connections to. The router
    has none while it sees no region healthy (right after a restart its first checks may
    fail, and under CPU contention a check can time out), though it still forwards to the
    unhealthy endpoints as a last resort, so the service answers meanwhile. So `prepare`,
    before the injection is timed, waits (at most `active_timeout_s`) for the router to name
    one, and fails saying so when it does not.
    """

    type = "api_failure"

    def __init__(
        self,
        region: str = "a",
        sig: signal.Signals = signal.SIGKILL,
        restart: bool = True,
        active_timeout_s: float = ACTIVE_TIMEOUT_S,
    ) -> None:
        self.region = region
        self.sig = sig
        self.restart = restart
        self.active_timeout_s = active_timeout_s
        self._resolved: str | None = None
        self._killed_region: str | None = None

    @classmethod
    def from_params(cls, params: Table) -> ApiFailureFault:
        """`region` (a region name, or `active`: the router's at injection; default `a`),
        `signal` (SIGKILL), `restart` (true: the supervisor restarts them at once),
        `active_timeout_s` (10: how long `active` waits for the router to have one)."""
        return cls(
            params.string("region", "a"),
            _signal_param(params),
            params.boolean("restart", True),
            params.duration("active_timeout_s", ACTIVE_TIMEOUT_S),
        )

    def describe(self) -> str:
        """One line: which processes die and who brings them back."""
        then = "the supervisor restarts them" if self.restart else "held down until restored"
        return (
            f"api_failure: {self.sig.name} to every service process of region {self.region}; {then}"
        )

    def prepare(self, ctx: FaultContext) -> None:
        """Resolve `active` before the injection is timed (the wait is not part of RTO)."""
        if self.region == "active":
            self._resolved = self._active_region(require_deployment(ctx, self.type))

    def inject(self, ctx: FaultContext) -> None:
        """Resolve the region and signal its processes' groups."""
        deployment = require_deployment(ctx, self.type)
        region, self._resolved = self._resolved, None
        if region is None:
            region = self._active_region(deployment) if self.region == "active" else self.region
        if region not in deployment.regions:
            raise FaultError(
                self.type,
                f"no region {region!r}; the deployment has {', '.join(deployment.regions)}",
            )
        self._killed_region = region
        pids = deployment.kill_region_processes(region, self.sig, restart=self.restart)
        if not pids:
            raise FaultError(self.type, f"region {region} has no running process to kill")
        ctx.emit("fault_effect", fault=self.type, region=region, pids=pids, signal=self.sig.name)

    def _active_region(self, deployment: Any) -> str:
        """The router's active region, waiting (bounded) while it has none."""
        deadline = time.monotonic() + self.active_timeout_s
        last = "no answer yet"
        while True:
            try:
                status = deployment.router.status()
            except RunFailed as exc:  # the router restarting: ask again until the deadline
                last = f"its control API: {exc}"
            else:
                active = status.get("active")
                if active:
                    return str(active)
                healthy = status.get("regions") or {}
                last = "regions " + (
                    ", ".join(
                        f"{name} {'healthy' if info.get('healthy') else 'unhealthy'}"
                        for name, info in healthy.items()
                    )
                    or "unknown"
                )
            if time.monotonic() >= deadline:
                raise FaultError(
                    self.type,
                    f'region = "active": the router had no active region within '
                    f"{self.active_timeout_s:g}s ({last}); nothing killed",
                )
            time.sleep(0.05)

    def clear(self, ctx: FaultContext) -> None:
        """Let the region run again if it was held, and wait until it is ready."""
        region, self._killed_region = self._killed_region, None
        if region is None or ctx.deployment is None:
            return
        try:
            ctx.deployment.restore(region, timeout_s=CLEAR_TIMEOUT_S)
        except RunFailed as exc:
            raise FaultError(self.type, f"region {region} did not come back: {exc}") from None


class CompleteOutageFault:
    """Kill every process of the deployment and keep them down until a cold start."""

    type = "complete_outage"

    def __init__(self, sig: signal.Signals = signal.SIGKILL) -> None:
        self.sig = sig
        self._injected = False

    @classmethod
    def from_params(cls, params: Table) -> CompleteOutageFault:
        """`signal` (SIGKILL)."""
        return cls(_signal_param(params))

    def describe(self) -> str:
        """One line: what dies and how it comes back."""
        return (
            f"complete_outage: {self.sig.name} to every service process, the router and "
            "the replicator, held down; recovery is a cold start from disk"
        )

    def inject(self, ctx: FaultContext) -> None:
        """Kill everything (router first, so clients see the outage at once)."""
        deployment = require_deployment(ctx, self.type)
        self._injected = True
        pids = deployment.kill_all(self.sig)
        if not pids:
            raise FaultError(self.type, "no running process to kill")
        ctx.emit("fault_effect", fault=self.type, pids=pids, signal=self.sig.name)

    def clear(self, ctx: FaultContext) -> None:
        """Cold-start the deployment unless it already answers (a runbook restarted it)."""
        injected, self._injected = self._injected, False
        if not injected or ctx.deployment is None:
            return
        url = target_url(ctx, self.type)
        if http_request(url, "GET", "/readyz", timeout_s=1.0).status == 200 and not _held(
            ctx.deployment
        ):
            return
        try:
            ctx.deployment.cold_start(timeout_s=CLEAR_TIMEOUT_S)
        except RunFailed as exc:
            raise FaultError(self.type, f"cold start failed: {exc}") from None


def _held(deployment: Any) -> bool:
    """True when the supervisor keeps some process down on purpose."""
    return any(entry.held for entry in deployment.supervisor.watched.values())


# -- runbook actions --------------------------------------------------------------------------


def cold_start(ctx: FaultContext, timeout_s: float) -> dict[str, Any]:
    """Start every process again from what is on disk; wait until all are ready."""
    deployment = require_deployment(ctx, "cold_start")
    duration_s = deployment.cold_start(timeout_s=timeout_s)
    return {"duration_s": round(duration_s, 3), "pids": deployment.pids()}


def restore_region(ctx: FaultContext, region: str | None, timeout_s: float) -> dict[str, Any]:
    """Let held processes of `region` (default: every region) run again; wait until ready."""
    deployment = require_deployment(ctx, "restore_region")
    targets = [region] if region is not None else list(deployment.regions)
    duration_s = deployment.restore(*targets, timeout_s=timeout_s)
    return {"regions": targets, "duration_s": round(duration_s, 3)}


def wait_ready(ctx: FaultContext, path: str, timeout_s: float) -> dict[str, Any]:
    """Wait until `path` (default /readyz) answers 200 through the router."""
    url = target_url(ctx, "wait_ready")
    last: list[str] = ["no answer yet"]

    def ready() -> bool:
        answer = http_request(url, "GET", path, timeout_s=min(2.0, timeout_s))
        last[0] = answer.error or f"status {answer.status}"
        return answer.status == 200

    clock = ctx.clock
    started = clock()
    if not wait_until(ready, timeout_s, interval_s=0.1):
        raise RunFailed(f"{url}{path} not ready after {timeout_s:g}s (last: {last[0]})")
    return {"url": f"{url}{path}", "ready_after_s": round(clock() - started, 3)}
