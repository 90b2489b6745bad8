"""Regional Failure: one region cut off at the router, like a network partition.

A toxic on the region's scope acts on the router's link to that region: its connections
*and* the router's health checks to it, so the router sees the region fail and sends
traffic to the next healthy one. `mode`:

- `timeout` (default): a blackhole. Data is held both ways (after `timeout_ms` the
  connection is closed; 0 = held until the toxic goes); health checks time out.
- `reset_peer`: connections to the region are reset (RST) after `timeout_ms`.
- `down`: the region is unreachable; connections to it are refused.

Clear removes the toxic (a healed partition: held data flows again), after which traffic
fails back to the primary region. The runbook action `remove_toxics` does the same by hand.
"""

from __future__ import annotations

from typing import Any

from harness.faults.base import FaultContext, FaultError
from harness.faults.dr.common import require_deployment
from harness.toml_table import Table

MODES = ("timeout", "reset_peer", "down")


class RegionalFailureFault:
    """Cut one region off at the router with a toxic; remove it at clear."""

    type = "regional_failure"

    def __init__(
        self,
        region: str = "a",
        mode: str = "timeout",
        timeout_ms: float = 0.0,
        name: str | None = None,
    ) -> None:
        self.region = region
        self.mode = mode
        self.timeout_ms = timeout_ms
        self.name = name or f"regional-failure-{region}"

    @classmethod
    def from_params(cls, params: Table) -> RegionalFailureFault:
        """`region` (a), `mode` (timeout | reset_peer | down), `timeout_ms` (0), `name`."""
        mode = params.choice("mode", MODES, "timeout")
        timeout_ms = params.number("timeout_ms", 0.0, low=0.0, high=3_600_000.0)
        if mode == "down" and params.has("timeout_ms"):
            raise params.error('takes no timeout_ms with mode "down"', "timeout_ms")
        return cls(params.string("region", "a"), mode, timeout_ms, params.opt_string("name"))

    def describe(self) -> str:
        """One line: the toxic and its region."""
        what = {"timeout": "blackholed", "reset_peer": "reset", "down": "unreachable"}[self.mode]
        return (
            f"regional_failure: region {self.region} {what} at the router "
            f"({self.mode} toxic {self.name!r})"
        )

    def inject(self, ctx: FaultContext) -> None:
        """Add the toxic on the region's link."""
        deployment = require_deployment(ctx, self.type)
        if self.region not in deployment.regions:
            raise FaultError(
                self.type,
                f"no region {self.region!r}; the deployment has {', '.join(deployment.regions)}",
            )
        attributes = {} if self.mode == "down" else {"timeout_ms": self.timeout_ms}
        try:
            toxic = deployment.router.add_toxic(
                self.mode, scope=self.region, name=self.name, **attributes
            )
        except Exception as exc:  # the client raises ConfigError/RunFailed with the reason
            raise FaultError(self.type, f"router refused the toxic: {exc}") from None
        ctx.emit("fault_effect", fault=self.type, region=self.region, toxic=toxic)

    def clear(self, ctx: FaultContext) -> None:
        """Remove the toxic if the router still has it (a restarted router has none)."""
        if ctx.deployment is None:
            return
        try:
            remove_toxics(ctx, name=self.name, scope=None)
        except Exception as exc:
            raise FaultError(self.type, f"could not remove the toxic: {exc}") from None


def remove_toxics(ctx: FaultContext, name: str | None, scope: str | None) -> dict[str, Any]:
    """Remove the router's toxics: all of them, or those with `name` and/or `scope`."""
    router = ctx.proxy or getattr(ctx.deployment, "router", None)
    if router is None:
        raise FaultError("remove_toxics", "no router in front of the target")
    removed = []
    for toxic in router.list_toxics():
        if (name is None or toxic.get("name") == name) and (
            scope is None or toxic.get("scope") == scope
        ):
            router.remove_toxic(str(toxic["name"]))
            removed.append(str(toxic["name"]))
    return {"removed": removed}
