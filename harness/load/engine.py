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
from locust import LoadTestShape
from locust.user import User

from harness.analysis.abort import LiveJudge
from harness.errors import ConfigError, HarnessError, RunFailed
from harness.load.cluster import SECRET_FLAG, check_cluster, generate_secret
from harness.load.config import RunConfig
from harness.load.cpu_meter import CpuMeter
from harness.load.journal import RunJournal, prepare_run_dir
from harness.load.launch import TOKEN_TTL_MARGIN_S, EmbeddedService, LocalWorkers, check_reachable
from harness.load.live import TimelineHook
from harness.load.locustfile import check_locustfile, load_locustfile
from harness.load.master import MasterSession
from harness.load.memory_sampler import MemorySampler
from harness.load.messages import ROLES, TOKEN_ENV_PREFIX
from harness.load.metrics import MetricsServer, serve_run_metrics
from harness.load.progress import PROGRESS_EVERY_S, progress_line
from harness.load.run_profile import RunProfiler
from harness.load.run_shape import run_shape
from harness.load.service_stats import save_service_stats
from harness.load.shapes import Shape, StageChange
from harness.load.timeline_runner import TimelineRunner
from harness.load.user_shape import shape_profile
from harness.load.users import USER_CLASSES
from harness.load.worker import env_tokens
from harness.rundir import RunDir
from harness.rundir.cpu import CpuSample
from harness.rundir.writer import EventLog

Echo = Callable[[str], None]
SHAPE_OVERRUN_S = 90.0  # Locust may lag behind the plan while it ramps; then we stop anyway


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
    journal = RunJournal(run_dir, config.manifest(run_dir.path.name), events)
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
        self.journal = journal
        self.timeline = TimelineRunner(timeline, journal) if timeline is not None else None
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
            host, port = self.config.metrics_bind
            self.metrics_server = serve_run_metrics(self.journal, session, host, port)
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
        shape = run_shape(self.config.profile, self.shape_class, session, self._on_stage, self.echo)
        self.profiler.start()
        return self._drive(session, shape)

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

    def _on_stage(self, change: StageChange) -> None:
        self.stage_name = change.name
        assert self.session is not None
        self.session.on_stage(change)

    def _drive(self, session: MasterSession, shape: Shape) -> str:
        started = time.monotonic()
        session.start(shape)
        self._start_abort_judge(shape.planned_duration_s)
        if self.timeline is not None:
            self.timeline.start(session)
        next_watch = next_flush = next_sample = started
        next_progress = started + PROGRESS_EVERY_S
        while True:
            now = time.monotonic()
            if self.stop_requested.is_set():
                return "interrupted"
            if self.timeline is not None and self.timeline.done():
                return "completed"
            if session.shape_error is not None:
                raise RunFailed(f"the load shape failed: {session.shape_error}")
            if session.shape_finished:
                if self.timeline is not None:
                    self.timeline.await_end(self.stop_requested)
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
                elapsed_s = now - started
                self.echo(
                    progress_line(session, self.stage_name, elapsed_s, shape.planned_duration_s)
                )
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

    def _cleanup(self, status: str) -> None:
        """Stop what was started, in reverse order, each step on its own."""
        steps: list[tuple[str, Callable[[], Any]]] = []
        if self.timeline is not None and self.timeline.greenlet is not None:
            steps.append(("scenario timeline", self.timeline.stop))
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
        problem = save_service_stats(self.journal.run_dir.path, url, admin_token)
        if problem is not None:
            self.journal.event("warning", message=f"service counters not read: {problem}")

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
