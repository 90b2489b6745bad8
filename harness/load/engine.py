"""One load run from start to end: `run_load(config)` writes a complete run directory.

Order: check what can be checked (locustfile, target), create the run directory, start
the target if embedded, the master, the local workers; wait for the expected workers; run
the shape with a progress line every ~2 s; then stop users, collect the workers' last data,
and stop everything, also on SIGINT/SIGTERM or an error. Importing this module imports
Locust and gevent (the master runs in this process): `harness run` imports it lazily.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from gevent import Greenlet
from locust import LoadTestShape
from locust.user import User

from harness.analysis.abort import LiveJudge
from harness.errors import ConfigError, HarnessError, RunFailed
from harness.load.cluster import SECRET_FLAG, check_cluster, generate_secret
from harness.load.config import RunConfig
from harness.load.cpu_meter import CpuMeter
from harness.load.journal import Manifest, RunJournal, prepare_run_dir
from harness.load.launch import TOKEN_TTL_MARGIN_S, EmbeddedService, LocalWorkers, check_reachable
from harness.load.live import LiveRun, TimelineHook
from harness.load.locustfile import check_locustfile, load_locustfile
from harness.load.master import MasterSession
from harness.load.memory_sampler import MemorySampler
from harness.load.messages import ROLES, TOKEN_ENV_PREFIX
from harness.load.metrics import LiveGauges, MetricsServer, RunMetrics
from harness.load.run_profile import RunProfiler
from harness.load.service_stats import SERVICE_STATS_FILE, collect_service_stats
from harness.load.shapes import (
    EXTREME_LIMITS,
    ExtremeShape,
    Shape,
    StageChange,
    StagedShape,
    StepObservation,
    StepResult,
)
from harness.load.user_shape import LocustfileShape, shape_profile
from harness.load.users import USER_CLASSES
from harness.load.worker import env_tokens
from harness.rundir import RunDir, write_json_atomic
from harness.rundir.cpu import CpuSample
from harness.rundir.thresholds import expressions
from harness.rundir.writer import EventLog

Echo = Callable[[str], None]
PROGRESS_EVERY_S = 2.0
SHAPE_OVERRUN_S = 90.0  # Locust may lag behind the plan while it ramps; then we stop anyway
TIMELINE_GRACE_S = 60.0  # a timeline still busy when the shape ends gets this long to finish
TIMELINE_KILL_TIMEOUT_S = 90.0  # its rollbacks (finally blocks) get this long when stopped


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended and where its directory is."""

    run_dir: Path
    status: str
    error: str | None


class _Interrupted(Exception):
    """SIGINT or SIGTERM arrived."""


def run_load(
    config: RunConfig,
    echo: Echo = print,
    timeline: TimelineHook | None = None,
    events: EventLog | None = None,
) -> RunOutcome:
    """Run the load described by `config`; the run directory is complete even on failure.

    `timeline(live)` (a scenario's) runs in a greenlet from the moment the shape starts;
    its exception is an `error` event and fails the run; `live.stop()` ends the load.
    `events` is the run's event log when the caller owns it (a scenario records events
    before and after the load); the caller then closes it. Without it the load owns one.
    Raises ConfigError or RunFailed only for problems found before the run directory exists.
    """
    check_cluster(
        config.master_bind_host, config.workers, config.expect_workers, config.cluster_secret
    )
    if config.locustfile is not None:
        check_locustfile(config.locustfile)
    if config.host is not None:
        check_reachable(config.host)
    classes: list[type[User]] = list(USER_CLASSES)
    shape_class: type[LoadTestShape] | None = None
    if config.locustfile is not None:
        locustfile = load_locustfile(config.locustfile)
        classes, shape_class = locustfile.user_classes, locustfile.shape_class
        config = _with_locustfile_shape(config, shape_class)
    if config.out_dir_prepared and config.out_dir is not None:
        run_dir = RunDir(config.out_dir)
    else:
        run_dir = prepare_run_dir(config.out_dir)
    manifest = Manifest(
        run_id=run_dir.path.name,
        target=config.host or "",  # the embedded service's URL once it is up
        embedded_service=config.host is None,
        workers_expected=config.expect_workers,
        config=config.as_json(),
        thresholds=expressions(config.all_thresholds),
        planned_duration_s=config.duration_s,
        profile=config.profile_name,
        argv=list(config.argv),
        kind=config.kind,
        scenario=config.scenario_name,
        topology=dict(config.topology) if config.topology is not None else None,
    )
    journal = RunJournal(run_dir, manifest, events)
    journal.event("run_started")
    run = _Run(config, journal, classes, echo, timeline, shape_class)
    return run.execute()


def _with_locustfile_shape(config: RunConfig, shape_class: type[LoadTestShape] | None) -> RunConfig:
    """The config driven by the locustfile's shape when it has one and may drive; a
    ConfigError when a profile or `--users` was given too (the two would disagree)."""
    if shape_class is None:
        return config
    if config.locustfile_shape_limit_s is None:
        where = "scenario profile" if config.kind == "scenario" else "--profile/--users"
        raise ConfigError(
            f"the locustfile defines the LoadTestShape {shape_class.__name__}, which drives "
            f"the load itself; expected either it or {where}, not both",
            where,
        )
    profile = shape_profile(shape_class, config.locustfile_shape_limit_s)
    return replace(config, profile=profile, profile_name=profile.name)


class _Run:
    """The stateful middle of `run_load`, so that cleanup knows what was started."""

    def __init__(
        self,
        config: RunConfig,
        journal: RunJournal,
        classes: list[type[User]],
        echo: Echo,
        timeline: TimelineHook | None = None,
        shape_class: type[LoadTestShape] | None = None,
    ) -> None:
        self.config = config
        self.shape_class = shape_class
        self.timeline = timeline
        self.live: LiveRun | None = None
        self.timeline_greenlet: Greenlet | None = None
        self.timeline_error: str | None = None
        self.journal = journal
        self.classes = classes
        self.echo = echo
        self.stop_requested = gevent.event.Event()
        self.service: EmbeddedService | None = None
        self.session: MasterSession | None = None
        self.workers: LocalWorkers | None = None
        self.metrics_server: MetricsServer | None = None
        self.stage_name = ""
        self.abort_judge: LiveJudge | None = None
        self.counters_from: tuple[str, str] | None = None  # (url, admin token) of our service
        self.memory = MemorySampler()
        self.memory.track("master", "master", os.getpid())
        if config.service_pids is not None:
            self.memory.track_source("service", config.service_pids)
        self.profiler = RunProfiler(
            journal.run_dir.path,
            lambda message: self.journal.event("warning", message=message),
            profile_dsn=config.profile_dsn,
            apply_indexes=config.apply_indexes,
        )
        self.cpu = CpuMeter()

    def execute(self) -> RunOutcome:
        handlers = [
            gevent.signal_handler(signal.SIGINT, self.stop_requested.set),
            gevent.signal_handler(signal.SIGTERM, self.stop_requested.set),
        ]
        status, error = "failed", None
        try:
            status = self._run()
        except _Interrupted:
            status = "interrupted"
        except HarnessError as exc:
            error = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        except Exception as exc:  # recorded in run.json, then shown by the CLI in one line
            error = f"internal error: {type(exc).__name__}: {exc}"
            self.journal.event("error", message=error)
            raise
        finally:
            if status == "failed" and error is None:
                error = "internal error"
            self._cleanup(status)
            self.journal.event("run_stopped", reason=status)
            self.journal.finish(status, error)
            for handler in handlers:
                handler.cancel()
        return RunOutcome(self.journal.run_dir.path, status, error)

    def _run(self) -> str:
        secret = self.config.cluster_secret or generate_secret()
        session = self.session = MasterSession(
            self.journal,
            self.classes,
            self.config.host,
            secret,
            self.config.master_bind_host,
            self.config.master_bind_port,
            recent_s=self._live_window_s(),
        )
        if self.config.metrics_bind is not None:
            self._serve_metrics(session, *self.config.metrics_bind)
        # workers import Locust while the target starts: both take seconds
        self.workers = LocalWorkers(
            self.config.workers, session.port, self.config.locustfile, secret
        )
        self.workers.start()
        host, worker_config = self._target()
        if self.config.locustfile is None and worker_config["tokens"].get("admin"):
            self.counters_from = (host, worker_config["tokens"]["admin"])
            token = worker_config["tokens"].get("service") or worker_config["tokens"]["admin"]
            sqlite_path = self.service.data_dir / "items.db" if self.service else None
            self.profiler.watch_service(host, token, sqlite_path)
        session.configure(host, worker_config)
        self._check_stop()
        if self.config.workers < self.config.expect_workers:
            self.echo(
                f"waiting for {self.config.expect_workers - self.config.workers} remote workers: "
                f"harness worker --master {self.config.master_bind_host}:{session.port} "
                f"{SECRET_FLAG} FILE"
            )
        session.wait_for_workers(
            self.config.expect_workers, self.config.expect_workers_timeout_s, self._worker_hope
        )
        self.echo(
            f"run {self.journal.run_dir.path.name}: {self.config.profile.name}, "
            f"{self.config.duration_s:g}s, {session.live_workers} workers, target {host}"
        )
        shape = self._shape(session)
        self.profiler.start()
        return self._drive(session, shape)

    def _serve_metrics(self, session: MasterSession, host: str, port: int) -> None:
        """Follow the run's lines and events as Prometheus metrics, served at host:port."""
        metrics = RunMetrics(
            self.journal.manifest.run_id,
            LiveGauges(
                users=lambda: int(session.runner.user_count),
                workers_connected=lambda: session.live_workers,
                workers_lost=lambda: len(session.lost),
            ),
        )
        session.entry_listeners.append(lambda entries: metrics.announce(e["name"] for e in entries))
        self.journal.interval_listeners.append(metrics.observe_line)
        self.journal.event_listeners.append(metrics.observe_event)
        self.metrics_server = MetricsServer(metrics, host, port)
        self.journal.event(
            "metrics_serving", url=f"http://{host}:{self.metrics_server.port}/metrics"
        )

    def _live_window_s(self) -> float:
        """How much merged live data the master keeps: enough to judge an extreme step."""
        steps = self.config.profile.extreme
        return max(120.0, steps.step_duration_s + 30.0) if steps is not None else 120.0

    def _target(self) -> tuple[str, dict[str, Any]]:
        """The base URL and the configuration every worker gets."""
        if self.config.host is not None:
            tokens = {**env_tokens(), **(self.config.tokens or {})}
            missing = [role for role in ROLES if role not in tokens]
            if missing and self.config.locustfile is None:
                message = (
                    "no token for "
                    + ", ".join(missing)
                    + ": set "
                    + ", ".join(f"{TOKEN_ENV_PREFIX}{role.upper()}" for role in missing)
                )
                self.journal.event("warning", message=message)
                self.echo(f"warning: {message}")
            item_ids = list(self.config.item_ids) if self.config.item_ids else None
            return self.config.host, {"tokens": tokens, "item_ids": item_ids}
        data_dir = self.journal.run_dir.path / "service-data"
        self.service = EmbeddedService(
            data_dir, self.config.seed_items, self.config.service_workers
        )
        self.journal.event("service_started", url=self.service.url, pid=self.service.pid)
        self.memory.track("service", "service", self.service.pid, tree=True)
        self.journal.update_manifest(target=self.service.url)
        tokens = self.service.tokens(self.config.duration_s + TOKEN_TTL_MARGIN_S)
        return self.service.url, {"tokens": tokens, "item_ids": self.service.item_ids()}

    def _worker_hope(self) -> str | None:
        self._check_stop()
        return self.workers.failure() if self.workers is not None else None

    def _check_stop(self) -> None:
        if self.stop_requested.is_set():
            raise _Interrupted()

    def _shape(self, session: MasterSession) -> Shape:
        profile = self.config.profile
        on_stage = self._on_stage
        if self.shape_class is not None:
            user_shape = self.shape_class()
            user_shape.runner = session.runner
            return LocustfileShape(user_shape, profile.duration_s, on_stage=on_stage)
        if profile.extreme is None:
            return StagedShape(profile.stages, on_stage=on_stage)

        def judge(t_from: float, t_to: float) -> StepObservation:
            seen = session.aggregator.window(t_from, t_to)
            saturated = session.health.saturated_between(t_from, t_to)
            return replace(seen, saturation=saturated.describe() if saturated else None)

        shape = ExtremeShape(
            profile.extreme,
            profile.objectives,
            judge,
            on_stage=on_stage,
            on_step=lambda result: self._on_step(result, shape),
        )
        return shape

    def _on_step(self, result: StepResult, shape: ExtremeShape) -> None:
        assert self.session is not None
        self.session.on_step(result, lambda: shape.highest_held_rate_per_s)
        verdict = "held" if result.held else f"{result.outcome}: {result.reason}"
        self.echo(f"extreme step {result.step + 1}: {result.rate_per_s:.1f} req/s {verdict}")
        if shape.limit is not None:
            highest = shape.highest_held_rate_per_s
            self.session.on_extreme_end(shape.limit, highest, len(shape.results))
            self.echo(
                f"limit: {EXTREME_LIMITS[shape.limit]}; highest rate that held: {highest:.1f} req/s"
            )

    def _on_stage(self, change: StageChange) -> None:
        self.stage_name = change.name
        assert self.session is not None
        self.session.on_stage(change)

    def _drive(self, session: MasterSession, shape: Shape) -> str:
        started = time.monotonic()
        session.start(shape)
        self._start_abort_judge(shape.planned_duration_s)
        self._start_timeline(session)
        next_watch = next_flush = next_sample = started
        next_progress = started + PROGRESS_EVERY_S
        while True:
            now = time.monotonic()
            if self.stop_requested.is_set():
                return "interrupted"
            if self._timeline_done():
                return "completed"
            if session.shape_finished:
                self._await_timeline()
                return "completed"
            if now - started > shape.planned_duration_s + SHAPE_OVERRUN_S:
                self.journal.event("warning", message="the shape overran its plan; stopped")
                return "completed"
            if now >= next_watch:
                session.watch()
                next_watch = now + 0.5
                if session.known and session.live_workers == 0:
                    raise RunFailed("every worker was lost")
            if now >= next_sample:
                self._sample_processes(session)
                next_sample = now + 1.0
            if now >= next_flush:
                session.flush()
                # an abort rule is judged on each flush: twice a second keeps it prompt
                next_flush = now + (0.5 if self.abort_judge is not None else 1.0)
                if self._aborted():
                    return "aborted"
            if now >= next_progress:
                self.echo(self._progress(session, now - started, shape.planned_duration_s))
                next_progress = now + PROGRESS_EVERY_S
            gevent.sleep(0.1)

    def _sample_processes(self, session: MasterSession) -> None:
        """Once a second: the RSS of the master and the service, the master's CPU."""
        self.journal.memory(self.memory.sample())
        cpu_pct, wait_pct = self.cpu.sample()
        session.health.add(
            CpuSample(time.time(), "master", "master", os.getpid(), cpu_pct, wait_pct)
        )

    def _start_abort_judge(self, planned_s: float) -> None:
        """Judge the abort rules on every merged line from now on (nothing to do without)."""
        if not self.config.abort:
            return
        judge = self.abort_judge = LiveJudge(self.config.abort, time.time(), planned_s)
        self.journal.interval_listeners.append(judge.observe_line)
        self.journal.event_listeners.append(judge.observe_event)

    def _aborted(self) -> bool:
        """True when an abort rule failed on the data merged so far (`run_aborted` event)."""
        decision = self.abort_judge.check(time.time()) if self.abort_judge else None
        if decision is None:
            return False
        self.journal.event("run_aborted", **decision.event_fields())
        self.echo(f"ABORTED: {decision.message}")
        return True

    # -- the scenario timeline hook ---------------------------------------------------------

    def _start_timeline(self, session: MasterSession) -> None:
        if self.timeline is None:
            return
        self.live = LiveRun(self.journal, session, time.time())
        self.timeline_greenlet = gevent.spawn(self._run_timeline, self.timeline, self.live)

    def _run_timeline(self, timeline: TimelineHook, live: LiveRun) -> None:
        try:
            timeline(live)
        except gevent.GreenletExit:
            raise
        except HarnessError as exc:
            self._timeline_failed(" | ".join(s.strip() for s in str(exc).splitlines() if s.strip()))
        except Exception as exc:  # never vanishes: an error event, and the run fails
            import traceback

            self._timeline_failed(
                f"scenario timeline: internal error: {type(exc).__name__}: {exc}",
                traceback.format_exc(limit=8),
            )

    def _timeline_failed(self, message: str, trace: str | None = None) -> None:
        self.timeline_error = message
        extra: dict[str, Any] = {"traceback": trace} if trace else {}
        self.journal.event("error", message=message, **extra)

    def _timeline_done(self) -> bool:
        """True when the timeline asked the load to end; RunFailed on its error."""
        if self.timeline_error is not None:
            raise RunFailed(self.timeline_error)
        return self.live is not None and self.live.stop_requested

    def _await_timeline(self) -> None:
        """The shape ended: let a busy timeline finish (bounded), then judge it."""
        greenlet = self.timeline_greenlet
        deadline = time.monotonic() + TIMELINE_GRACE_S
        while greenlet is not None and not greenlet.dead and not self.stop_requested.is_set():
            if time.monotonic() > deadline:
                self.journal.event("warning", message="the scenario timeline outlived the load")
                break
            greenlet.join(timeout=0.2)
        if self.timeline_error is not None:
            raise RunFailed(self.timeline_error)

    def _stop_timeline(self) -> None:
        """Stop a timeline still running: GreenletExit runs its finally blocks (rollbacks)."""
        greenlet = self.timeline_greenlet
        if greenlet is not None and not greenlet.dead:
            greenlet.kill(block=True, timeout=TIMELINE_KILL_TIMEOUT_S)
            if not greenlet.dead:
                self.journal.event("error", message="the scenario timeline did not stop in time")

    def _progress(self, session: MasterSession, elapsed_s: float, planned_s: float) -> str:
        live = session.aggregator.live()
        agg = session.aggregator
        share = agg.failures / agg.requests if agg.requests else 0.0
        return (
            f"{elapsed_s:6.1f}s/{planned_s:.0f}s  {self.stage_name:<10} "
            f"users {session.runner.user_count:4d}  req/s {live.rate_per_s:7.1f}  "
            f"errors {agg.failures} ({share:.2%})  p95 {live.p95_ms:7.1f} ms  "
            f"workers {session.live_workers}"
        )

    def _cleanup(self, status: str) -> None:
        """Stop what was started, in reverse order, each step on its own."""
        steps: list[tuple[str, Callable[[], Any]]] = []
        if self.timeline_greenlet is not None:
            steps.append(("scenario timeline", self._stop_timeline))
        steps.append(("profiling", self._finish_profile))
        if self.counters_from is not None:
            steps.append(("service counters", self._save_service_stats))
        if self.session is not None:
            steps.append(("master", self.session.stop))
        if self.workers is not None:
            steps.append(("workers", self._stop_workers))
        if self.service is not None:
            steps.append(("service", self._stop_service))
        if self.metrics_server is not None:
            steps.append(("metrics", self.metrics_server.stop))
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # keep stopping the rest; the timeline says what failed
                self.journal.event("error", message=f"stopping {what}: {type(exc).__name__}: {exc}")

    def _save_service_stats(self) -> None:
        """The reference service's CDN and RBAC counters, for the report."""
        assert self.counters_from is not None
        url, admin_token = self.counters_from
        if self.session is not None and self.session.worker_config is not None:
            # a scenario may have refreshed the tokens (its key revoked): use the current one
            admin_token = self.session.worker_config.get("tokens", {}).get("admin", admin_token)
        try:
            stats = collect_service_stats(url, admin_token)
        except (OSError, ValueError) as exc:
            self.journal.event("warning", message=f"service counters not read: {exc}")
            return
        write_json_atomic(self.journal.run_dir.path / SERVICE_STATS_FILE, stats)

    def _finish_profile(self) -> None:
        config = self.session.worker_config if self.session is not None else None
        tokens = (config or {}).get("tokens", {})
        self.profiler.finish(tokens.get("service") or tokens.get("admin"))

    def _stop_workers(self) -> None:
        assert self.workers is not None
        for problem in self.workers.stop():
            self.journal.event("warning", message=problem)

    def _stop_service(self) -> None:
        assert self.service is not None
        self.service.stop()
        self.journal.event("service_stopped", url=self.service.url, pid=self.service.pid)
