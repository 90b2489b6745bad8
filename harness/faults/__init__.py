"""Fault injectors: the interface, the registry of fault types, and the generic faults.

`build_fault(spec)` turns a scenario's `[fault]` into a `Fault`, validating its `params`
with the same precise errors as the rest of the scenario file. Each type's factory is
named by a dotted path and imported only when used, so loading a scenario imports no
fault's heavy dependencies.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from harness.errors import ConfigError
from harness.faults.base import (
    EventSink,
    Fault,
    FaultContext,
    FaultError,
    RecordingSink,
    clear_fault,
    inject_fault,
)
from harness.faults.dr import DR_FAULTS
from harness.faults.infra import INFRA_FAULTS
from harness.scenarios.model import FaultSpec
from harness.toml_table import Table

FaultFactory = Callable[[Table], Fault]
"""Builds a fault from its `params` table; reads every key it knows (unknown ones fail)."""

_FACTORIES: dict[str, FaultFactory | str] = {
    "command": "harness.faults.generic:CommandFault.from_params",
    "http": "harness.faults.remote:HttpFault.from_params",
    "signal": "harness.faults.generic:SignalFault.from_params",
    "proxy": "harness.faults.remote:ProxyFault.from_params",
}

# The six disaster-recovery faults of the reference deployment (harness.faults.dr).
_FACTORIES.update(DR_FAULTS)
# Faults on the user's real infrastructure (harness.faults.infra).
_FACTORIES.update(INFRA_FAULTS)


def register_fault(fault_type: str, factory: FaultFactory | str) -> None:
    """Make `fault_type` buildable: a factory, or its `module:attribute` path."""
    _FACTORIES[fault_type] = factory


def fault_available(fault_type: str) -> bool:
    """True when `fault_type` has an implementation in this version."""
    return fault_type in _FACTORIES


def build_fault(spec: FaultSpec, source: str = "scenario") -> Fault:
    """The `Fault` for a scenario's `[fault]`; ConfigError (naming `source`) on bad params."""
    factory = _FACTORIES.get(spec.type)
    if factory is None:
        raise ConfigError(
            f"fault type {spec.type!r} is not implemented in this version; "
            f"available: {', '.join(sorted(_FACTORIES))}",
            f"{source}: fault.type",
        )
    if isinstance(factory, str):
        factory = _resolve(factory)
    params = Table(spec.params, source, "fault.params")
    fault = factory(params)
    params.finish()
    return fault


def _resolve(path: str) -> FaultFactory:
    module_name, _, attribute = path.partition(":")
    target: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return cast(FaultFactory, target)


__all__ = [
    "EventSink",
    "Fault",
    "FaultContext",
    "FaultError",
    "FaultFactory",
    "RecordingSink",
    "build_fault",
    "clear_fault",
    "fault_available",
    "inject_fault",
    "register_fault",
]
