"""Shared fixtures: the repository root, a fresh in-memory render, and the checkov virtual environment
(cached outside the clone)."""

from __future__ import annotations

import compileall
import subprocess
from pathlib import Path

import pytest

from generator.blueprints import BLUEPRINTS
from generator.blueprints.base import RenderContext
from generator.render import render_all
from tests.support.checkov import checkov_venv, start_building_in_background
from tests.support.fixtures import fidelity_servers

# make_world's per-module servers, seen by every test module that imports make_world from its conftest or
# directly (tests/support/fixtures.py).
__all__ = ["fidelity_servers"]

ROOT = Path(__file__).resolve().parent.parent
CHECKOV_REQUIREMENTS = ROOT / "tests" / "checkov-requirements.txt"


def pytest_configure(config: pytest.Config) -> None:
    """Once, in xdist's controller (or the one process without xdist): compile the project, and on a
    machine without the checkov environment start building it in the background, so the build overlaps the
    other tests (the checkov test waits for it on its lock; not when the slow tests are left out)."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    compile_the_project()
    if "not slow" in (config.option.markexpr or ""):
        return
    _BACKGROUND.append(start_building_in_background(CHECKOV_REQUIREMENTS))


def compile_the_project() -> None:
    """The bytecode of the project's own modules, written once before the tests start (0.4 s, or nothing
    when it is current). The suite runs the product's commands as subprocesses many times, and where the
    environment sets PYTHONDONTWRITEBYTECODE (this machine's does) each would compile the modules it imports
    again: 0.15 s of a `generator render`. The installed packages are compiled at install."""
    for package in ("generator", "pipeline", "tests"):
        compileall.compile_dir(ROOT / package, quiet=1)


# The longest tests, started first (by far the longest: the README walkthrough, one command after another,
# about two minutes): with `--dist worksteal` the other worker takes the rest meanwhile, instead of one
# worker running them alone at the end of the run (`--durations=25` shows the list).
LONGEST_FIRST = ("tests/e2e/test_readme.py", "tests/e2e/sync/test_faults.py", "tests/e2e/test_checkov.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, then the other slow ones, then the rest, each in collection order (the
    same order in every xdist worker, as xdist requires)."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.partition("::")[0]
        if path in LONGEST_FIRST:
            return LONGEST_FIRST.index(path)
        return len(LONGEST_FIRST) + (0 if item.get_closest_marker("slow") else 1)

    items.sort(key=rank)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Wait for a background build still running (a session without the checkov test can end first): the
    cache is then complete, and no build is left behind."""
    for build in _BACKGROUND:
        if build is not None:
            build.wait()


# The background build, held for the session's life.
_BACKGROUND: list[subprocess.Popen[bytes] | None] = []


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def rendered() -> dict[str, bytes]:
    """A fresh render of the repository's blueprints and sample org, in memory."""
    return render_all(RenderContext(root=ROOT), BLUEPRINTS)


@pytest.fixture(scope="session")
def checkov() -> list[str]:
    """The checkov command, from its own virtual environment (it pins an older boto3 than ours), cached
    outside the clone (tests/support/checkov.py)."""
    return [str(checkov_venv(CHECKOV_REQUIREMENTS.read_bytes()) / "bin" / "checkov")]
