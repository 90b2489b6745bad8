"""The `patroni` fault: what an operator (or a bad night) does to a Patroni cluster through
its REST API: a switchover, a failover, a restart of a member's PostgreSQL, or pause.

    [fault]
    type = "patroni"
    params = { api = "http://127.0.0.1:8008", action = "switchover", switch_back = true }

`api` is any member's REST API; the others are found through its `GET /cluster`.

- `switchover`: `POST /switchover` from the leader to `candidate` (default: the first
  running replica), then wait until the candidate leads; clear, with `switch_back`, switches
  back to the old leader;
- `failover`: `POST /failover` to `candidate` (Patroni wants one when paused; default as
  above); clear as for a switchover;
- `restart`: `POST /restart` on `member` (default: the leader): its PostgreSQL restarts,
  Patroni stays; clear does nothing;
- `pause`: `PATCH /config {"pause": true}`, maintenance mode (no automatic failover);
  clear resumes (`{"pause": false}`).

Each waits (bounded by `timeout_s`, 60) for the effect to show in `GET /cluster`; Patroni's
refusal (412, 503, ...) fails the fault with its own message. `check()` (run before the
load starts) asks `GET /cluster`: a URL that does not answer is exit 2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness.errors import ConfigError
from harness.faults.base import FaultContext, FaultError
from harness.faults.infra.rest import Unreachable, send
from harness.toml_table import Table

ACTIONS = ("switchover", "failover", "restart", "pause")
REQUEST_TIMEOUT_S = 30.0  # Patroni answers a switchover once it is done
POLL_S = 0.25


@dataclass
class PatroniFault:
    """See the module docstring."""

    api: str
    action: str
    candidate: str | None = None
    member: str | None = None
    switch_back: bool = False
    timeout_s: float = 60.0
    type: str = "patroni"
    done: dict[str, Any] = field(default_factory=dict, init=False)

    @classmethod
    def from_params(cls, params: Table) -> PatroniFault:
        """Build from `[fault.params]`: api, action, candidate, member, switch_back, timeout_s."""
        api = params.string("api", required=True).rstrip("/")
        parts = urlsplit(api)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise params.error(f"expected a member's REST API URL, got {api!r}", "api")
        action = params.choice("action", ACTIONS)
        fault = cls(
            api=api,
            action=action,
            candidate=params.opt_string("candidate"),
            member=params.opt_string("member"),
            switch_back=params.boolean("switch_back", False),
            timeout_s=params.duration("timeout_s", 60.0),
        )
        if fault.member is not None and action != "restart":
            raise params.error('only for action = "restart"', "member")
        if (fault.candidate is not None or fault.switch_back) and action not in (
            "switchover", "failover"):  # fmt: skip
            raise params.error("only for a switchover or a failover",
                               "candidate" if fault.candidate else "switch_back")  # fmt: skip
        return fault

    def check(self) -> None:
        """Before the run: the REST API answers `GET /cluster` (ConfigError otherwise)."""
        try:
            self._members()
        except FaultError as exc:
            raise ConfigError(exc.detail, "fault.params.api") from None

    def describe(self) -> str:
        """One line: the action, and what it did once done."""
        text = f"patroni: {self.action} through {self.api}"
        if self.done:
            text += " (" + ", ".join(f"{k} {v}" for k, v in self.done.items()) + ")"
        return text

    # -- injection and clear ----------------------------------------------------------------

    def inject(self, ctx: FaultContext) -> None:
        """Ask Patroni, then wait until the cluster shows the effect."""
        self.done = {}
        if self.action == "pause":
            self._call(self.api, "PATCH", "/config", {"pause": True})
            self._wait("the cluster to pause", lambda: self._config().get("pause") is True)
            self.done["paused"] = True
        elif self.action == "restart":
            members = self._members()
            name = self.member or str(_leader(members))
            self._call(_api_of(members, name), "POST", "/restart", {})
            self._wait(f"{name} to run again", lambda: _state(self._members(), name) == "running")
            self.done["restarted"] = name
        else:
            self._switch(self.candidate)

    def clear(self, ctx: FaultContext) -> None:
        """Resume a pause; switch back when asked to."""
        if self.action == "pause" and self.done.get("paused"):
            self._call(self.api, "PATCH", "/config", {"pause": False})
            self._wait("the cluster to resume", lambda: not self._config().get("pause"))
        elif self.action in ("switchover", "failover") and self.switch_back and self.done:
            old = str(self.done["from"])
            self._switch(old)
            self.done = {}

    def _switch(self, candidate: str | None) -> None:
        members = self._members()
        leader = _leader(members)
        if candidate is None and _running_replica(members, leader) is None:
            # a replica that just (re)joined streams before Patroni reports it running
            self._wait("a running replica to switch to",
                       lambda: _running_replica(self._members(), leader) is not None)  # fmt: skip
            members = self._members()
        target = candidate or _first_replica(members, leader)
        body = {"leader": leader, "candidate": target}
        if _state(members, target) is not None:  # a stranger is Patroni's to refuse
            self._wait(f"{target} to run as a replica", lambda: _state(self._members(), target)
                       == "running")  # fmt: skip
        # asked of the leader: a candidate asked itself waits on its own REST API for its status
        api = _api_of(members, leader)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                self._call(api, "POST", f"/{self.action}", body)
                break
            except FaultError as exc:  # a replica that just rejoined is not a candidate yet
                if "412" not in exc.detail or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        self._wait(f"{target} to lead", lambda: _leader(self._members(), required=False) == target
                   and _state(self._members(), target) == "running")  # fmt: skip
        self.done.update({"from": leader, "to": target})

    # -- REST ---------------------------------------------------------------------------------

    def _members(self) -> list[dict[str, Any]]:
        body = self._call(self.api, "GET", "/cluster")
        if not isinstance(body, dict) or not isinstance(body.get("members"), list):
            raise FaultError(self.type, f"{self.api}/cluster answered without members")
        return list(body["members"])

    def _config(self) -> dict[str, Any]:
        body = self._call(self.api, "GET", "/config")
        return body if isinstance(body, dict) else {}

    def _wait(self, what: str, done: Any) -> None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                if done():
                    return
            except FaultError:
                pass  # a member restarting answers nothing for a moment
            if time.monotonic() > deadline:
                raise FaultError(self.type, f"timed out after {self.timeout_s:g}s waiting for "
                                 f"{what}")  # fmt: skip
            time.sleep(POLL_S)

    def _call(self, api: str, method: str, path: str, body: Any = None) -> Any:
        try:
            reply = send(api, method, path, json_body=body, timeout_s=REQUEST_TIMEOUT_S)
        except Unreachable as exc:
            raise FaultError(self.type, f"Patroni REST API at {api} did not answer: {exc}"
                             ) from None  # fmt: skip
        if reply.status >= 400:
            raise FaultError(self.type, f"{method} {path} answered {reply.status}: "
                             f"{reply.text[:300] or '(no body)'}")  # fmt: skip
        return reply.json()


def _leader(members: list[dict[str, Any]], required: bool = True) -> str | None:
    for member in members:
        if member.get("role") in ("leader", "standby_leader"):
            return str(member["name"])
    if required:
        raise FaultError("patroni", "the cluster has no leader")
    return None


def _running_replica(members: list[dict[str, Any]], leader: str | None) -> str | None:
    for member in members:
        running = member.get("state") in ("running", "streaming")
        if member.get("name") != leader and running:
            return str(member["name"])
    return None


def _first_replica(members: list[dict[str, Any]], leader: str | None) -> str:
    name = _running_replica(members, leader)
    if name is None:
        raise FaultError("patroni", "no running replica to switch to")
    return name


def _state(members: list[dict[str, Any]], name: str) -> str | None:
    for member in members:
        if member.get("name") == name:
            state = member.get("state")
            return "running" if state in ("running", "streaming") else str(state)
    return None


def _api_of(members: list[dict[str, Any]], name: str | None) -> str:
    for member in members:
        if member.get("name") == name and member.get("api_url"):
            return str(member["api_url"]).removesuffix("/patroni")
    raise FaultError("patroni", f"no member named {name!r} with a REST API")
