"""Test and --local support: a faithful StackSet emulator in front of moto, and organization seeding.

Imports moto (the `local` extra, also in `test`), so it is never part of the Lambda package; only tests, the
benchmark and `python -m pipeline ... --local` import it, through `environment()` here for the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.common.errors import UsageError

if TYPE_CHECKING:
    from pipeline.emulator.local import LocalEnvironment

INSTALL = ".venv/bin/pip install -e '.[local]'"


def environment() -> type[LocalEnvironment]:
    """The LocalEnvironment class, or one sentence saying what to install when moto (or the server it
    needs) is missing: `--local` is an extra, not a dependency of the product."""
    try:
        from pipeline.emulator.local import LocalEnvironment
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing == "pipeline":
            raise
        raise UsageError(
            f"--local needs the local extras ({missing} is not installed): run `{INSTALL}`"
        ) from exc
    return LocalEnvironment
