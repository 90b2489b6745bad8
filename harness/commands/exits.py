"""The one mapping from a judged run's verdict to the command line's exit code.

0 pass · 1 a threshold or objective failed, or aborted the run · 3 the run itself failed ·
4 the run was interrupted or did not finish (incomplete: never a pass). 2 (bad input) is
raised before anything is judged. Library code returns verdicts; only the commands call this.
"""

from __future__ import annotations

from harness.errors import (
    EXIT_INCOMPLETE,
    EXIT_PASS,
    EXIT_RUN_FAILED,
    EXIT_THRESHOLD_FAILED,
)
from harness.rundir import Verdict

_CODES = {
    Verdict.PASS: EXIT_PASS,
    Verdict.FAIL: EXIT_THRESHOLD_FAILED,
    Verdict.ABORTED: EXIT_THRESHOLD_FAILED,
    Verdict.ERROR: EXIT_RUN_FAILED,
    Verdict.INCOMPLETE: EXIT_INCOMPLETE,
}


def exit_code_of(verdict: Verdict | str) -> int:
    """The exit code of a verdict (an unknown verdict is a failed run: 3)."""
    try:
        return _CODES[Verdict(verdict)]
    except ValueError:
        return EXIT_RUN_FAILED
