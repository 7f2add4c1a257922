"""The one exception hierarchy of the org sync: every expected failure is a SyncError with a clear message."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class SyncError(Exception):
    """Base of every error the sync reports as one sentence (CLI exit code 2 unless a subclass says 1)."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in one input file, at one key (a dotted path)."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        key = f" {self.key}:" if self.key else ""
        return f"{self.file}:{key} {self.message}"


class ManifestError(SyncError):
    """The manifest or a template it names is unusable: every problem found, each with file and key."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems))
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        super().__init__(f"{head} in the manifest:\n" + "\n".join(f"  {p}" for p in self.problems))


class OrgReadError(SyncError):
    """The organization could not be read completely; nothing is planned from a partial read."""

    exit_code = 1


class WrongOrganizationError(SyncError):
    """The credentials reach another organization (or another management account) than the manifest's."""


class GuardError(SyncError):
    """The deletion guard stopped the run before its first write; the reasons say why."""

    exit_code = 1

    def __init__(self, reasons: Iterable[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("the deletion guard stopped the run before any write: " + "; ".join(self.reasons))
