"""`python -m pipeline sync`'s progress: the step lines as before, and on a terminal only one line redrawn
below them with the operations ended out of the plan's (the patterns of tests/test_pipeline/common/
test_progress.py)."""

from __future__ import annotations

import io

from pipeline.cli.options import ProgressLines
from pipeline.common.progress import CLEAR_LINE
from pipeline.core.outcomes import Event
from tests.test_pipeline.common.test_progress import Terminal

STARTED = Event("org-roles-A", "update StackSet: started (operation 1a2b3c4d)")
ENDED = Event("org-roles-A", "update StackSet: succeeded", ended=True)


def test_on_a_terminal_one_line_counts_the_operations_below_the_step_lines() -> None:
    out = Terminal()
    lines = ProgressLines(quiet=False, stream=out, clock=lambda: 0.0, columns=lambda: 120)
    with lines.running(2):
        lines(STARTED)
        lines(ENDED)
    lines(STARTED)  # after the run: a step line, no progress line
    step = "  org-roles-A: update StackSet: started (operation 1a2b3c4d)\n"
    assert out.getvalue() == (
        f"{CLEAR_LINE}sync: 0/2"
        f"{CLEAR_LINE}{step}"
        f"{CLEAR_LINE}sync: 0/2 operations, 0 s; org-roles-A: update StackSet: started (operation 1a2b3c4d)"
        f"{CLEAR_LINE}sync: 1/2 operations, 0 s; org-roles-A: update StackSet: succeeded"
        f"{CLEAR_LINE}{step}"
    )


def test_not_a_terminal_only_the_step_lines() -> None:
    out = io.StringIO()
    lines = ProgressLines(quiet=False, stream=out, clock=lambda: 0.0, columns=lambda: 120)
    with lines.running(2):
        lines(STARTED)
        lines(ENDED)
    assert out.getvalue() == "  org-roles-A: update StackSet: started (operation 1a2b3c4d)\n"


def test_quiet_writes_nothing_even_on_a_terminal() -> None:
    out = Terminal()
    lines = ProgressLines(quiet=True, stream=out, clock=lambda: 0.0, columns=lambda: 120)
    with lines.running(1):
        lines(STARTED)
        lines(ENDED)
    assert out.getvalue() == ""


def test_the_line_is_cut_to_the_terminal_width_so_it_can_be_redrawn() -> None:
    out = Terminal()
    lines = ProgressLines(quiet=False, stream=out, clock=lambda: 0.0, columns=lambda: 40)
    with lines.running(2):
        lines(ENDED)
    drawn = out.getvalue().split(CLEAR_LINE)[2]
    assert drawn == "sync: 1/2 operations, 0 s; org-roles..."
    assert len(drawn) == 39
