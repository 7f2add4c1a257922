"""The checkov virtual environment, cached outside the clone: a fresh clone (CI's) reuses the one built by
an earlier run on the machine, and a fresh machine builds it once."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.paths import cache_home


def checkov_venv(
    requirements: bytes, home: Path | None = None, build: Callable[[Path, bytes], None] | None = None
) -> Path:
    """The checkov virtual environment for these requirements and this Python, outside the clone.

    Keyed by a hash of both, so a requirements change (or another Python) builds a new one beside the
    old, and every clone on the machine shares it; built when missing (a fresh machine) under a lock,
    so concurrent test runs build it once; complete only once its stamp is written, so an interrupted
    build is built again."""
    key = hashlib.sha256(requirements + sys.version.encode() + sys.base_prefix.encode()).hexdigest()[:16]
    home = home or cache_home()
    venv = home / f"checkov-{key}"
    stamp = venv / "org-stacksets-complete"
    if stamp.is_file():
        return venv
    home.mkdir(parents=True, exist_ok=True)
    with (home / f"checkov-{key}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not stamp.is_file():
            (build or _build_checkov_venv)(venv, requirements)
            stamp.write_text(requirements.decode())
    return venv


def _build_checkov_venv(venv: Path, requirements: bytes) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    wanted = venv / "requirements.txt"
    wanted.write_bytes(requirements)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(wanted)]
    subprocess.run(pip, check=True, env=env)
