"""The `patroni` fault against the session's real Patroni cluster (etcd, two members):
switchover and back, pause and resume, a member's PostgreSQL restarted, a URL that does
not answer refused before the run, and Patroni's own refusal surfaced."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.faults import FaultError, RecordingSink, build_fault, clear_fault, inject_fault
from harness.faults.base import FaultContext
from harness.faults.infra.patroni_rest import PatroniFault
from harness.scenarios.model import FaultSpec, freeze

pytestmark = pytest.mark.e2e


def fault(**params: object) -> PatroniFault:
    made = build_fault(FaultSpec(type="patroni", params=freeze(params)), "s.toml")
    assert isinstance(made, PatroniFault)
    return made


def api_of(cluster: Any) -> str:
    name = next(iter(cluster.members))
    return f"http://127.0.0.1:{cluster.members[name].ports.rest_port}"


def test_switchover_and_back(pg_cluster: Any) -> None:
    cluster = pg_cluster
    cluster.wait_streaming(60.0)
    leader = cluster.leader()
    ctx = FaultContext(sink=RecordingSink())
    switch = fault(api=api_of(cluster), action="switchover", switch_back=True)
    switch.check()
    inject_fault(switch, ctx)
    replica = next(n for n in cluster.members if n != leader)
    assert cluster.leader() == replica
    assert f"from {leader}, to {replica}" in ctx.sink.events[0]["detail"]  # type: ignore[attr-defined]
    clear_fault(switch, ctx)
    assert cluster.leader() == leader
    cluster.wait_streaming(60.0)  # left as found: the other member streams again, a replica
    deadline = time.monotonic() + 60
    while cluster.replicas() != [replica] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.replicas() == [replica]


@pytest.mark.slow
def test_pause_resume_and_restart(pg_cluster: Any) -> None:
    cluster = pg_cluster
    cluster.wait_streaming(60.0)
    api = api_of(cluster)
    ctx = FaultContext(sink=RecordingSink())
    pause = fault(api=api, action="pause")
    inject_fault(pause, ctx)
    assert pause._config().get("pause") is True
    clear_fault(pause, ctx)
    assert not pause._config().get("pause")
    replica = cluster.replicas()[0]
    restart = fault(api=api, action="restart", member=replica)
    inject_fault(restart, ctx)
    assert restart.done == {"restarted": replica}
    cluster.wait_streaming(60.0)
    nobody = fault(api=api, action="switchover", candidate="pg9", timeout_s=2)
    with pytest.raises(FaultError, match="candidate does not exists"):  # Patroni's own words
        inject_fault(nobody, ctx)


def test_an_api_that_does_not_answer_is_bad_input() -> None:
    with pytest.raises(ConfigError, match="did not answer"):
        fault(api="http://127.0.0.1:9", action="pause").check()
    with pytest.raises(ConfigError, match="only for a switchover"):
        fault(api="http://127.0.0.1:9", action="pause", switch_back=True)
