"""The project's errors, each tied to the exit code the command line reports for it.

Library code raises these; only `harness.cli` turns them into exit codes and one-line
messages. Exit codes are shared by every command that runs or judges a test:
0 pass, 1 a threshold or objective failed, 2 bad input or configuration, 3 the run failed
(or the installation is broken), 4 the run was interrupted or did not finish (an external
abort: k6 gives such a run its own code too, 105), so it was not judged a pass.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_THRESHOLD_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 3
EXIT_INCOMPLETE = 4


class HarnessError(Exception):
    """Base of every error the harness reports to its user as one line."""

    exit_code = EXIT_RUN_FAILED


class ConfigError(HarnessError):
    """Bad input or configuration, found before anything started.

    `where` names the file, field, flag or position; the message says what was expected.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class RunFailed(HarnessError):
    """The run itself failed: target unreachable, no workers, a fault not injected."""

    exit_code = EXIT_RUN_FAILED
