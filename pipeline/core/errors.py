"""The sync's errors, under the product's one error base: every expected failure is a SyncError with a clear
message and its exit code."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.common.errors import EXIT_FAILED, ProblemsError, ProductError


class SyncError(ProductError):
    """Base of every error the sync reports as one sentence (CLI exit code 2 unless a subclass says 1)."""


class ManifestError(ProblemsError, SyncError):
    """The manifest or a template it names is unusable: every problem found, each with file and key."""

    subject = "the manifest"


class OrgReadError(SyncError):
    """The organization could not be read completely; nothing is planned from a partial read."""

    exit_code = EXIT_FAILED


class WrongOrganizationError(SyncError):
    """The credentials reach another organization (or another management account) than the manifest's."""


class GuardError(SyncError):
    """The deletion guard stopped the run before its first write; the reasons say why."""

    exit_code = EXIT_FAILED

    def __init__(self, reasons: Iterable[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("the deletion guard stopped the run before any write: " + "; ".join(self.reasons))
