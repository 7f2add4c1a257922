"""Progress for long steps: one line rewritten in place on a terminal, nothing at all when the stream is
not a terminal (pipes, CI logs, tests), so output that machines read never changes."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

CLEAR_LINE = "\r\033[K"


class Progress:
    """`label: done/total` (or `label: N s` for a wait of unknown length) on stderr while it runs.

    Quiet unless the stream is a terminal; `finish()` (or leaving the `with` block) clears the line.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.live = _is_terminal(self.stream)
        self._clock = clock
        self._start = clock()

    def __enter__(self) -> Progress:
        self._show("")
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def advance(self, count: int = 1, note: str = "") -> None:
        """Count `count` more items done (a step of a wait when there is no total) and redraw."""
        self.done += count
        self._show(note)

    def elapsed(self) -> float:
        return self._clock() - self._start

    def clear(self) -> None:
        """Wipe the line (before printing something else); the next advance() draws it again."""
        if self.live:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()

    def finish(self) -> None:
        if self.live:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self.live = False

    def _show(self, note: str) -> None:
        if not self.live:
            return
        elapsed = f"{self._clock() - self._start:.0f} s"
        count = elapsed if self.total is None else f"{self.done}/{self.total}"
        self.stream.write(f"{CLEAR_LINE}{self.label}: {count}{f' {note}' if note else ''}")
        self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False
