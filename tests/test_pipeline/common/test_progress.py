"""Progress: one line redrawn in place on a terminal, nothing at all anywhere else."""

from __future__ import annotations

import io

from pipeline.common.progress import CLEAR_LINE, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file")  # as a real closed stream does
        return True


def test_counts_on_a_terminal_and_clears_the_line_when_done() -> None:
    out = Terminal()
    with Progress("lint", total=3, stream=out) as progress:
        progress.advance(2, "cached")
        progress.advance()
    assert out.getvalue() == (
        f"{CLEAR_LINE}lint: 0/3{CLEAR_LINE}lint: 2/3 cached{CLEAR_LINE}lint: 3/3{CLEAR_LINE}"
    )


def test_a_wait_without_total_shows_the_seconds_elapsed() -> None:
    ticks = iter([100.0, 100.0, 107.4])
    out = Terminal()
    progress = Progress("waiting for stack", stream=out, clock=lambda: next(ticks))
    progress.advance(note="CREATE_IN_PROGRESS")
    progress.advance(note="CREATE_COMPLETE")
    progress.finish()
    assert out.getvalue() == (
        f"{CLEAR_LINE}waiting for stack: 0 s CREATE_IN_PROGRESS"
        f"{CLEAR_LINE}waiting for stack: 7 s CREATE_COMPLETE{CLEAR_LINE}"
    )


def test_quiet_when_not_a_terminal() -> None:
    out = io.StringIO()
    with Progress("lint", total=2, stream=out) as progress:
        progress.advance(2)
    assert out.getvalue() == ""


def test_a_closed_stream_is_not_a_terminal() -> None:
    out = Terminal()
    out.close()
    progress = Progress("lint", total=1, stream=out)
    progress.advance()
    progress.finish()
    assert not progress.live


def test_clear_wipes_the_line_for_other_output_and_advance_draws_it_again() -> None:
    out = Terminal()
    progress = Progress("deploying s", stream=out, clock=lambda: 0.0)
    progress.clear()
    progress.advance(note="CREATE_IN_PROGRESS")
    progress.finish()
    progress.clear()  # finished: nothing more
    assert out.getvalue() == f"{CLEAR_LINE}{CLEAR_LINE}deploying s: 0 s CREATE_IN_PROGRESS{CLEAR_LINE}"
