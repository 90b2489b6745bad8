"""The six disaster-recovery faults of the reference deployment, each real (docs/faults.md).

| type | what is really done |
| --- | --- |
| `database_failover` | the primary database's pages and WAL destroyed under the running service |
| `api_failure` | every service process of a region SIGKILLed (the supervisor restarts them) |
| `regional_failure` | a region cut off at the router (blackhole, reset or down toxic) |
| `complete_outage` | every process, router included, killed and held down |
| `data_corruption` | pages of the items table and its indexes overwritten in the live file |
| `security_breach` | the active signing key read from keys.json and used to forge admin tokens |

`DR_FAULTS` maps each type to its factory's dotted path; `harness.faults` registers them.
The runbook actions that recover from them are in `harness.faults.runbook`.
"""

from __future__ import annotations

DR_FAULTS: dict[str, str] = {
    "database_failover": "harness.faults.dr.database:DatabaseFailoverFault.from_params",
    "api_failure": "harness.faults.dr.processes:ApiFailureFault.from_params",
    "regional_failure": "harness.faults.dr.region:RegionalFailureFault.from_params",
    "complete_outage": "harness.faults.dr.processes:CompleteOutageFault.from_params",
    "data_corruption": "harness.faults.dr.corruption:DataCorruptionFault.from_params",
    "security_breach": "harness.faults.dr.breach:SecurityBreachFault.from_params",
}
"""Fault type -> `module:Class.from_params` of its factory."""

__all__ = ["DR_FAULTS"]
