"""One error base for every command and Lambda of the product: an expected failure carries its exit code
and prints as one sentence; input problems carry their file, key and (where known) line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# How much of a user's value a message quotes: enough to find it, never a whole (possibly huge) value.
EXCERPT_CHARS = 40


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A value as messages quote it: its repr (quoted, escaped, so always one line), cut to `limit`
    characters of the value plus "..." when longer."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else repr(value[:limit]) + "..."
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class ProductError(Exception):
    """Base of every error a command reports as one sentence: exit code 2 (bad input) unless a subclass
    says 1 (a failure or a finding)."""

    exit_code = EXIT_USAGE


class UsageError(ProductError):
    """A command line the parser refused, or options that do not fit together."""


@dataclass(frozen=True)
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

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.file, self.line or 0, self.key, self.message)

    def __lt__(self, other: Problem) -> bool:
        return self.sort_key() < other.sort_key()


class ProblemsError(ProductError):
    """Every problem found in one input (collected, then raised once), sorted and listed one per line (one
    problem: on the same line)."""

    subject = "the input"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems), key=Problem.sort_key)
        count = len(self.problems)
        if count == 1:  # one line, as every error of a command line is
            super().__init__(f"1 problem in {self.subject}: {self.problems[0]}")
            return
        super().__init__(
            f"{count} problems in {self.subject}:\n" + "\n".join(f"  {p}" for p in self.problems)
        )
