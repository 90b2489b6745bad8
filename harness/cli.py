"""The `harness` command line: parse flags into typed configs, call the library, map errors
to exit codes.

Each subcommand lives in `harness/commands/<name>.py` with two functions:
`add_arguments(parser)` and `execute(args) -> int`. Command modules import the library
lazily inside `execute`, so `harness --help` stays fast and patches nothing.
Only this module decides exit codes; errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from harness.errors import EXIT_BAD_INPUT, EXIT_RUN_FAILED, HarnessError

COMMANDS: dict[str, str] = {
    "serve": "Serve the reference service (CDN, RBAC, filtering) on loopback.",
    "token": "Print a signed token for a role, accepted by a service on the same data dir.",
    "run": "Run a load test and write a run directory with a report.",
    "worker": "Join a distributed run as a Locust worker.",
    "up": "Start the reference deployment (two regions, router, database standby).",
    "down": "Stop the reference deployment started by `harness up`.",
    "scenario": "Run one disaster-recovery scenario under load.",
    "suite": "Run several scenarios in a row and write an index page.",
    "report": "Render the HTML report (and summary) of a run directory.",
    "gate": "Judge a finished run against thresholds: exit 0 pass, 1 fail, 4 incomplete.",
    "audit": "Audit an HTTP API against the OWASP API Security Top 10 (2023).",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags as one line with exit code 2 (bad input)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every subcommand's flags."""
    from harness import __version__

    parser = _Parser(
        prog="harness",
        description="Distributed load-and-resilience testing harness.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"harness.commands.{name}")
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `harness` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.execute(args))
    except HarnessError as exc:
        print(f"harness {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"harness {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("HARNESS_DEBUG"):
            raise
        if isinstance(exc, ImportError):  # a declared part is missing: never a silent pass
            print(
                f"harness {args.command}: broken installation: {exc} "
                "(reinstall the package with its dependencies)",
                file=sys.stderr,
            )
            return EXIT_RUN_FAILED
        print(
            f"harness {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set HARNESS_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return EXIT_RUN_FAILED


def run_program() -> NoReturn:
    """The `harness` console script and `python -m harness`: `main()`, then exit.

    A process that loaded Locust, pandas and matplotlib spends ~0.5 s at exit collecting
    their garbage, on every run and in every worker. Registered first, the freeze runs after
    every other exit hook (files are closed, temporary directories removed by then), so the
    interpreter tears down modules and objects as usual but skips that final collection.
    """
    atexit.register(gc.freeze)
    raise SystemExit(main())


if __name__ == "__main__":  # pragma: no cover
    run_program()
