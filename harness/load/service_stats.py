"""The reference service's own counters at the end of a run: edge cache and access control.

Read over HTTP with the run's admin token (`GET /admin/cdn/stats`, and the `harness_auth_*`
gauges of `GET /metrics`), written to `service-stats.json` for the report (which reads it
as `harness.rundir.service_stats.ServiceStats`). The counters cover the service's life,
which for an embedded service or a scenario's deployment is the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.admin_api import admin_get, admin_get_object
from harness.rundir import write_json_atomic
from harness.rundir.service_stats import SERVICE_STATS_FILE

__all__ = ["SERVICE_STATS_FILE", "collect_service_stats", "parse_auth_gauges", "save_service_stats"]

_AUTH_PREFIX = "harness_auth_"
_AUTH_FIELDS = ("public", "allowed", "unauthorized", "forbidden", "not_routed")


def collect_service_stats(
    base_url: str, admin_token: str, timeout_s: float = 3.0
) -> dict[str, Any]:
    """`{"cdn": {...}, "auth": {...}}` from a running reference service.

    Raises OSError or ValueError when the service does not answer as the reference does.
    """
    cdn = admin_get_object(base_url, "/admin/cdn/stats", admin_token, timeout_s)
    metrics = admin_get(base_url, "/metrics", admin_token, timeout_s).decode("utf-8", "replace")
    return {"cdn": cdn, "auth": parse_auth_gauges(metrics)}


def save_service_stats(run_dir: Path, base_url: str, admin_token: str) -> str | None:
    """Write the counters to the run directory's service-stats.json; instead, the reason
    when the service did not answer them."""
    try:
        stats = collect_service_stats(base_url, admin_token)
    except (OSError, ValueError) as exc:
        return str(exc)
    write_json_atomic(run_dir / SERVICE_STATS_FILE, stats)
    return None


def parse_auth_gauges(metrics_text: str) -> dict[str, int]:
    """The access-control outcome counts from Prometheus text (`harness_auth_<field> N`)."""
    auth: dict[str, int] = {}
    for line in metrics_text.splitlines():
        if not line.startswith(_AUTH_PREFIX):
            continue
        name, _, value = line.partition(" ")
        field = name.removeprefix(_AUTH_PREFIX)
        if field in _AUTH_FIELDS:
            auth[field] = int(float(value))
    return auth
