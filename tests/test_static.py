"""Static gates run by the suite: ruff lint, ruff format and mypy over the project's code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import cache_home

pytestmark = pytest.mark.slow  # ruff and mypy over the whole project: seconds


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=root, capture_output=True, text=True, check=False
    )


def test_ruff_check(root: Path) -> None:
    proc = _run(root, "ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format(root: Path) -> None:
    proc = _run(root, "ruff", "format", "--check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy(root: Path) -> None:
    # The cache outside the clone, shared by every clone on the machine: mypy checks each entry against
    # the file's size and hash, so a fresh clone rechecks only what differs (seconds become a fraction).
    proc = _run(root, "mypy", "--cache-dir", str(cache_home() / "mypy"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
