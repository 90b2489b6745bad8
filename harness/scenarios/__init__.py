"""Scenario files: the model (frozen dataclasses) and the loader (TOML, precise errors).

The file format is documented in docs/scenarios.md; the shipped files live in `scenarios/`.
"""

from harness.scenarios.loader import (
    ensure_timeline,
    load_scenario,
    rescale_checked,
    scenario_from_mapping,
)
from harness.scenarios.model import (
    FAULT_TYPES,
    DeploymentSpec,
    FaultSpec,
    Objectives,
    PercentileLimit,
    Phases,
    Probe,
    ProfileSpec,
    Recovery,
    RecoveryStep,
    Scenario,
    SteadyState,
    Target,
    rescale,
)
from harness.scenarios.stored import scenario_to_dict

__all__ = [
    "FAULT_TYPES",
    "DeploymentSpec",
    "FaultSpec",
    "Objectives",
    "PercentileLimit",
    "Phases",
    "Probe",
    "ProfileSpec",
    "Recovery",
    "RecoveryStep",
    "Scenario",
    "SteadyState",
    "Target",
    "ensure_timeline",
    "load_scenario",
    "rescale",
    "rescale_checked",
    "scenario_from_mapping",
    "scenario_to_dict",
]
