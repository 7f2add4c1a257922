"""Shared fixtures: the repository root, a fresh in-memory render, and the checkov virtual environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.blueprints import BLUEPRINTS
from generator.blueprints.base import RenderContext
from generator.render import render_all

ROOT = Path(__file__).resolve().parent.parent
CHECKOV_VENV = ROOT / ".venv-checkov"
CHECKOV_REQUIREMENTS = ROOT / "tests" / "checkov-requirements.txt"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def rendered() -> dict[str, bytes]:
    """A fresh render of the repository's blueprints and sample org, in memory."""
    return render_all(RenderContext(root=ROOT), BLUEPRINTS)


def _checkov_python() -> Path:
    return CHECKOV_VENV / "bin" / "python"


@pytest.fixture(scope="session")
def checkov() -> list[str]:
    """The checkov command, from its own virtual environment (it pins an older boto3 than ours).

    The environment is created on first use from tests/checkov-requirements.txt and reused after;
    a requirements change rebuilds it.
    """
    stamp = CHECKOV_VENV / "requirements.txt"
    wanted = CHECKOV_REQUIREMENTS.read_text()
    if not (_checkov_python().exists() and stamp.exists() and stamp.read_text() == wanted):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(CHECKOV_VENV)], check=True)
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
        subprocess.run(
            [str(_checkov_python()), "-m", "pip", "install", "--quiet", "-r", str(CHECKOV_REQUIREMENTS)],
            check=True,
            env=env,
        )
        stamp.write_text(wanted)
    return [str(CHECKOV_VENV / "bin" / "checkov")]
