"""`harness up` / `harness down`: the deployment in a detached daemon process.

`up` starts `python -m harness.topology.daemon --config FILE --detach`, which forks a daemon
into its own session (so it outlives the command and the terminal) and exits at once. The
daemon runs a `Deployment` (its events go to `<data_dir>/events.jsonl`, its output to
`<data_dir>/logs/deployment.log`) until SIGTERM or SIGINT, then stops every process it
started. `up` returns once `deployment.json` says the daemon's deployment is ready; `down` is
`harness.topology.state.stop_recorded`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, HarnessError, RunFailed
from harness.rundir import JsonlAppender, read_json, write_json_atomic
from harness.topology.deployment import Deployment, DeploymentConfig
from harness.topology.processes import is_alive, wait_for
from harness.topology.router import HealthCheck
from harness.topology.state import is_running, read_deployment_state, stop_recorded

CONFIG_FILE = "deployment-config.json"
LOG_FILE = Path("logs") / "deployment.log"


def up(config: DeploymentConfig, timeout_s: float = 90.0) -> dict[str, Any]:
    """Start a detached deployment and return its recorded state once it is ready."""
    data_dir = config.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if is_running(read_deployment_state(data_dir)):
        raise ConfigError("a deployment is already running here (harness down stops it)",
                          str(data_dir))  # fmt: skip
    config = dataclasses.replace(config, data_dir=data_dir)
    config_json = dataclasses.asdict(config) | {"data_dir": str(data_dir)}
    write_json_atomic(data_dir / CONFIG_FILE, config_json)
    (data_dir / LOG_FILE).parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "harness.topology.daemon", "--config",
               str(data_dir / CONFIG_FILE), "--detach"]  # fmt: skip
    launched = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if launched.returncode != 0 or not launched.stdout.strip().isdigit():
        raise RunFailed(f"could not start the deployment daemon: {launched.stderr.strip()}")
    pid = int(launched.stdout.strip())
    found: dict[str, Any] = {}

    def ready() -> bool:
        state = read_deployment_state(data_dir) or {}
        if state.get("owner", {}).get("pid") == pid and state.get("status") == "ready":
            found.update(state)
            return True
        if not is_alive(pid):
            raise RunFailed(_log_tail(data_dir))
        return False

    try:
        wait_for(ready, timeout_s, "the deployment to be ready", interval_s=0.1)
    except RunFailed:
        if is_alive(pid):
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not is_alive(pid), 30.0, "the deployment daemon to stop")
        raise
    return found


def down(data_dir: Path, timeout_s: float = 30.0) -> list[int] | None:
    """Stop the deployment recorded in `data_dir`; None when nothing was running."""
    state = read_deployment_state(data_dir.resolve())
    if state is not None and not is_running(state):
        return None
    return stop_recorded(data_dir.resolve(), timeout_s)


def _log_tail(data_dir: Path) -> str:
    """The daemon's last line: its one-line error when it failed to start."""
    log = data_dir / LOG_FILE
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return lines[-1] if lines else f"the deployment daemon exited; see {log}"


def _load_config(path: Path) -> DeploymentConfig:
    data = read_json(path)
    data["data_dir"] = Path(data["data_dir"])
    data["health"] = HealthCheck(**data["health"])
    return DeploymentConfig(**data)


def _detach(log_path: Path) -> bool:
    """Fork; the parent prints the child's pid and returns False, the child (now the leader of
    a new session, output to the log) returns True."""
    pid = os.fork()
    if pid:
        print(pid, flush=True)
        return False
    os.setsid()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    return True


def serve_deployment(config: DeploymentConfig) -> int:
    """Run a deployment in this process until SIGTERM/SIGINT; the exit code."""
    stop = threading.Event()
    started = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()
        if not started.is_set():  # abort a start in progress; start() cleans up
            raise RunFailed(f"interrupted by signal {signum} while starting")

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    events = JsonlAppender(config.data_dir / "events.jsonl")

    def record(kind: str, **fields: Any) -> None:
        events.append({"t": fields.pop("t"), "kind": kind, **fields})
        events.flush()

    deployment = Deployment(config, on_event=record, owner="daemon")
    try:
        deployment.start()
        started.set()
        print(f"harness up: ready at {deployment.url}", flush=True)
        stop.wait()
    except HarnessError as exc:
        print(f"the deployment did not start: {exc}", flush=True)
        return exc.exit_code
    finally:
        deployment.stop()
        events.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m harness.topology.daemon --config FILE [--detach]`."""
    parser = argparse.ArgumentParser(prog="python -m harness.topology.daemon")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--detach", action="store_true")
    args = parser.parse_args(argv)
    config = _load_config(args.config)
    if args.detach and not _detach(config.data_dir / LOG_FILE):
        return 0
    return serve_deployment(config)


if __name__ == "__main__":
    raise SystemExit(main())
