"""A scenario's timeline, run by the load engine beside the load (a greenlet of the master).

    warmup ── steady_check ── inject ── observe (clear, runbook) ── verify ── cooldown

Times are from the load's start (`live.t0`); everything after the injection is relative to
the moment the injection began (`t_injected`). Each phase begins with a `phase` event.

- steady check, at the injection time: the hypothesis over the last `steady_check_s` of
  complete data (seconds are written about a second after they end, so the window ends
  up to a second before the injection; `steady_state` event with the window judged). If
  it does not hold, nothing is injected and the load stops: no recovery, RTO fails.
- inject (`inject_fault`: `fault_injected`, or `fault_failed` with an immediate rollback
  and the run failing), observe until `observe_s` after it, clearing the fault at
  `duration_s` (or at the end of the observation). The rollback runs on every way out.
- runbook (`recovery.mode = "runbook"`): each step at its `after_s` in order, in its own
  greenlet so that the clear stays on time; `revoke_kid` is followed by fresh tokens for
  the load users. A failed action ends the runbook (the rest is not run) and the
  observation goes on: recovery is then judged on what happened.
- verify: read back every acknowledged write (`readback.json`, `readback` event), then the
  hypothesis over the observation's last window (`steady_state`, phase `verify`).
- cooldown until the planned end, then the load stops.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent

from harness.analysis.steady_state import SLOT_S, HypothesisResult, evaluate, load_timeline
from harness.faults import FaultContext, FaultError, clear_fault, inject_fault
from harness.load.live import LiveRun
from harness.rundir.writer import EventLog
from harness.runner.config import ScenarioRunConfig
from harness.runner.probe import ProbeLoop
from harness.runner.readback.adapters import build_adapter, scenario_dir
from harness.runner.readback.core import read_back
from harness.runner.readback.spec import readback_spec
from harness.runner.target import Target

Echo = Callable[[str], None]
TOKEN_TTL_S = 3600.0


class ScenarioTimeline:
    """Callable with the `LiveRun`; keeps what happened for the runner's report."""

    def __init__(
        self, config: ScenarioRunConfig, target: Target, events: EventLog, echo: Echo
    ) -> None:
        self.config = config
        self.scenario = config.scenario
        self.fault = config.build_fault()
        self.target = target
        self.events = events
        self.echo = echo
        self.injected_t: float | None = None
        self.steady_before: HypothesisResult | None = None
        self._clear_attempted = False
        self._live: LiveRun | None = None
        self._ctx: FaultContext | None = None
        self._probe: ProbeLoop | None = None
        self._runbook: gevent.Greenlet | None = None
        self._runbook_error: BaseException | None = None

    # -- the timeline -----------------------------------------------------------------------

    def __call__(self, live: LiveRun) -> None:
        """Run the whole timeline (the load engine's hook)."""
        self._live = live
        self._ctx = self.target.fault_context(self.events, live.run_dir)
        phases = self.scenario.phases
        try:
            self._phase("warmup", live.t0)
            self._start_probe()
            self._until(phases.warmup_s)
            self._phase("steady_check")
            self._until(self.scenario.inject_at_s)
            if not self._steady_check():
                live.stop()
                return
            self._inject_observe_clear()
            self._verify()
            self._stop_probe()
            self._phase("cooldown")
            self._until(self.scenario.duration_s)
            live.stop()
        finally:
            self._stop_probe()

    def _phase(self, name: str, t: float | None = None) -> None:
        live = self._require_live()
        t = time.time() if t is None else t
        live.emit("phase", t=t, name=name)
        self.echo(f"[{t - live.t0:6.1f}s] phase {name}")

    def _until(self, at_s: float, base_t: float | None = None) -> None:
        """Sleep until `at_s` seconds after `base_t` (default: the load's start)."""
        live = self._require_live()
        due = (live.t0 if base_t is None else base_t) + at_s
        gevent.sleep(max(0.0, due - time.time()))

    def _require_live(self) -> LiveRun:
        assert self._live is not None, "the timeline runs only as the load engine's hook"
        return self._live

    # -- steady state -------------------------------------------------------------------------

    def _start_probe(self) -> None:
        probe = self.scenario.steady_state.probe
        if probe is not None:
            self._probe = ProbeLoop(probe, self.target.url, self.events.emit)
            self._probe.start()

    def _stop_probe(self) -> None:
        if self._probe is not None:
            self._probe.stop()

    def _hypothesis(self, span_s: float, t_to: float) -> tuple[HypothesisResult, float, float]:
        """The hypothesis over the last `span_s` of data written before `t_to`.

        Seconds reach intervals.jsonl about a second after they end, so the window ends
        where the complete data does (never before the load started): judged on time, on
        whole data. Returns the result and the window judged.
        """
        live = self._require_live()
        live.flush()
        failures = self._probe.failures_t if self._probe is not None else []
        timeline = load_timeline(live.run_dir, list(failures))
        end = min(t_to, timeline.end_s) if len(timeline.ok) else t_to
        start = max(end - span_s, live.t0)
        end = max(end, start + SLOT_S)
        return evaluate(timeline, self.scenario.steady_state, start, end), start, end

    def _steady_check(self) -> bool:
        live = self._require_live()
        phases = self.scenario.phases
        if phases.steady_check_s <= 0:
            live.emit("steady_state", ok=True, phase="steady_check", detail="not checked")
            return True
        t_inject = live.t0 + self.scenario.inject_at_s
        result, start, end = self._hypothesis(phases.steady_check_s, t_inject)
        self.steady_before = result
        live.emit(
            "steady_state",
            ok=result.ok,
            phase="steady_check",
            detail=result.detail(),
            judged_from=start,
            judged_to=end,
        )
        if result.ok:
            self.echo(f"steady state holds: {result.detail()}")
        else:
            self.echo(
                f"steady state does not hold before the fault ({result.detail()}): not injected"
            )
        return result.ok

    # -- fault, observation, recovery ------------------------------------------------------

    def _inject_observe_clear(self) -> None:
        ctx = self._require_ctx()
        self.echo(f"injecting: {self.fault.describe()}")
        t_inj = inject_fault(self.fault, ctx)  # a failure is rolled back and raised: exit 3
        self.injected_t = t_inj
        try:
            self._observe(t_inj)
        except BaseException:
            if not self._clear_attempted:
                with contextlib.suppress(FaultError):  # recorded as fault_failed
                    self._clear()
            raise
        finally:
            self._stop_runbook()
        if not self._clear_attempted:
            self._clear()

    def _observe(self, t_inj: float) -> None:
        scenario = self.scenario
        self._phase("observe", t_inj)
        if scenario.recovery.mode == "runbook":
            self._runbook = gevent.spawn(self._run_runbook, t_inj)
        held_s = scenario.fault.duration_s
        if held_s is not None:
            self._until(held_s, t_inj)
            self._clear()
        self._until(scenario.phases.observe_s, t_inj)
        if self._runbook_error is not None:  # not a failed action: the runbook itself broke
            raise self._runbook_error

    def _clear(self) -> None:
        self._clear_attempted = True
        clear_fault(self.fault, self._require_ctx())
        self.echo("fault cleared")

    def _run_runbook(self, t_inj: float) -> None:
        try:
            self._runbook_steps(t_inj)
        except Exception as exc:  # surfaces in the timeline at the end of the observation
            self._runbook_error = exc

    def _runbook_steps(self, t_inj: float) -> None:
        from harness.faults.runbook import ActionFailed, run_action

        ctx = self._require_ctx()
        steps = self.scenario.recovery.steps
        for index, step in enumerate(steps):
            self._until(step.after_s, t_inj)
            try:
                result = run_action(step.action, step.params, ctx)
            except ActionFailed as exc:
                rest = ", ".join(s.action for s in steps[index + 1 :]) or "none"
                message = f"runbook stopped at {step.action}: {exc.detail}; not run: {rest}"
                ctx.emit("warning", message=message)
                self.echo(f"warning: {message}")
                return
            self.echo(f"runbook: {step.action} done")
            if step.action == "revoke_kid":
                self._refresh_tokens(result)

    def _refresh_tokens(self, result: dict[str, Any]) -> None:
        """The load users' tokens were signed with the revoked key: issue and send new ones."""
        live = self._require_live()
        tokens = self.target.issue_tokens(TOKEN_TTL_S)
        live.refresh_tokens(tokens)
        live.emit(
            "tokens_refreshed",
            roles=sorted(tokens),
            kid=result.get("active_kid"),
            detail="the load users' tokens issued again with the active key",
        )

    def _stop_runbook(self) -> None:
        runbook = self._runbook
        if runbook is not None and not runbook.dead:
            message = "the runbook was still running at the end of the observation; stopped"
            self._require_ctx().emit("warning", message=message)
            self.echo(f"warning: {message}")
            runbook.kill(block=True, timeout=30.0)

    def _require_ctx(self) -> FaultContext:
        assert self._ctx is not None, "the timeline runs only as the load engine's hook"
        return self._ctx

    # -- verify -----------------------------------------------------------------------------

    def _verify(self) -> None:
        live = self._require_live()
        self._phase("verify")
        spec = readback_spec(self.scenario.readback, self.config.source)
        adapter = build_adapter(
            spec, self.target.url, self.target.readback_token, scenario_dir(self.scenario)
        )
        readback = read_back(live, adapter, self.config.readback_timeout_s, Path(live.run_dir))
        live.emit(
            "readback",
            ok=readback.error is None,
            adapter=readback.adapter,
            checked=readback.checked,
            present=readback.present,
            missing=readback.missing if readback.error is None else None,
            unknown=readback.unknown if readback.error is None else None,
            checked_at=readback.checked_at,
            took_s=round(readback.took_s, 3),
            detail=readback.detail(),
        )
        self.echo(readback.detail())
        assert self.injected_t is not None
        end = self.injected_t + self.scenario.phases.observe_s
        result, start, end = self._hypothesis(self.scenario.phases.window_s, end)
        live.emit(
            "steady_state", ok=result.ok, phase="verify", detail=result.detail(),
            judged_from=start, judged_to=end,
        )  # fmt: skip
        self.echo(f"steady state at the end of the observation: {result.detail()}")
