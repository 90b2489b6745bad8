"""The six DR fault types build from a scenario's params with precise errors, describe
themselves, and refuse to run without a deployment (a FaultError, rolled back)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import ConfigError
from harness.faults import FaultContext, FaultError, RecordingSink, build_fault, inject_fault
from harness.faults.dr import DR_FAULTS
from harness.scenarios import FaultSpec


@pytest.mark.parametrize("fault_type", sorted(DR_FAULTS))
def test_defaults_build_and_describe(fault_type: str) -> None:
    fault = build_fault(FaultSpec(fault_type))
    assert fault.type == fault_type
    assert fault.describe().startswith(f"{fault_type}: ")


@pytest.mark.parametrize(
    ("fault_type", "params", "expected"),
    [
        ("database_failover", {"method": "unlink"}, "fault.params.method: expected one of"),
        ("database_failover", {"probe_interval_s": 0}, "fault.params.probe_interval_s"),
        ("api_failure", {"signal": "SIGSTOP"}, "fault.params.signal: expected a signal that"),
        ("api_failure", {"regoin": "a"}, "did you mean 'region'?"),
        ("regional_failure", {"mode": "latency"}, "fault.params.mode: expected one of"),
        ("regional_failure", {"mode": "down", "timeout_ms": 5}, "takes no timeout_ms"),
        ("complete_outage", {"supervisor": "stopped"}, "fault.params.supervisor: unknown key"),
        ("data_corruption", {"pages": 0}, "fault.params.pages: expected an integer in"),
        ("security_breach", {"ops": ["GET /"]}, "fault.params.ops[0]: expected one of"),
        ("security_breach", {"role": "root"}, "fault.params.role: expected one of"),
        ("security_breach", {"attack_rate_per_s": 1000}, "fault.params.attack_rate_per_s"),
    ],
)
def test_bad_params_name_the_key(fault_type: str, params: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_fault(FaultSpec(fault_type, params=params), "s.toml")
    assert str(info.value).startswith("s.toml: ") and expected in str(info.value)


@pytest.mark.parametrize("fault_type", sorted(DR_FAULTS))
def test_without_a_deployment_injection_fails_loudly(fault_type: str) -> None:
    sink = RecordingSink()
    fault = build_fault(FaultSpec(fault_type))
    with pytest.raises(FaultError, match="needs the reference deployment"):
        inject_fault(fault, FaultContext(sink=sink))
    assert sink.kinds()[0] == "fault_failed"
    assert "fault_injected" not in sink.kinds()
