"""The one exception hierarchy of the generator package: every expected failure is a GeneratorError."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class GeneratorError(Exception):
    """Base of every error the CLI turns into a one-line message and exit code 2."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in one input file, at one key (a dotted path) and, where known, one line."""

    file: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class InputError(GeneratorError):
    """Bad input: one or more problems, each naming its file and key."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.key, p.message))
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        super().__init__(f"{head} in the input:\n" + "\n".join(f"  {p}" for p in self.problems))


class OutputError(GeneratorError):
    """The output location cannot be written safely (for example a folder the generator did not make)."""
