"""`python -m generator` and `python -m pipeline` as a person types them, from subfolders of this repository:
the same answer as from the root, even from tests/, which comes first on sys.path there (its test packages
are named test_generator and test_pipeline so they never stand in for the product's)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.paths import ROOT

COMMANDS = [
    ["generator", "render", "--check"],
    ["generator", "diff", "--base", "HEAD", "--format", "json", "--exit-code"],
    ["pipeline", "local", "bogus"],
]


def _run(argv: list[str], where: str) -> tuple[int, str, str]:
    # This checkout's packages, whichever checkout the virtual environment was installed from.
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=ROOT / where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("where", ["tests", "tests/test_generator", "org_roles/Root"])
def test_a_subfolder_gives_the_same_answer_as_the_root(argv: list[str], where: str) -> None:
    expected = _run(argv, ".")
    assert "Traceback" not in expected[2]
    assert _run(argv, where) == expected
