"""The checkov virtual environment, cached outside the clone: a fresh clone (CI's) reuses the one built by
an earlier run on the machine, and a fresh machine builds it once."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.paths import cache_home

STAMP = "org-stacksets-complete"
# How the environment is built, part of its key, so one built another way is built again beside it: the
# bytecode is compiled at install, as the project's own install does. The environment sets
# PYTHONDONTWRITEBYTECODE, so without it every checkov run compiled the 3,800 modules it imports (3.7 of its
# 24 s under cProfile).
RECIPE = b"compiled bytecode"


def venv_path(requirements: bytes, home: Path | None = None) -> Path:
    """The environment's folder: keyed by a hash of the requirements and this Python."""
    key = hashlib.sha256(requirements + RECIPE + sys.version.encode() + sys.base_prefix.encode()).hexdigest()[
        :16
    ]
    return (home or cache_home()) / f"checkov-{key}"


def checkov_venv(
    requirements: bytes, home: Path | None = None, build: Callable[[Path, bytes], None] | None = None
) -> Path:
    """The checkov virtual environment for these requirements and this Python, outside the clone.

    Keyed by a hash of both, so a requirements change (or another Python) builds a new one beside the
    old, and every clone on the machine shares it; built when missing (a fresh machine) under a lock,
    so concurrent test runs build it once; complete only once its stamp is written, so an interrupted
    build is built again."""
    venv = venv_path(requirements, home)
    stamp = venv / STAMP
    if stamp.is_file():
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with venv.with_name(f"{venv.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not stamp.is_file():
            (build or _build_checkov_venv)(venv, requirements)
            stamp.write_text(requirements.decode())
    return venv


def _build_checkov_venv(venv: Path, requirements: bytes) -> None:
    """With uv (a test extra) when it is there: seconds where pip takes minutes; pip when uv is missing
    or fails (say, no index it can reach), so a machine without uv still builds it."""
    uv = find_uv()
    if uv is not None:
        try:
            _build(venv, requirements, uv)
            return
        except subprocess.CalledProcessError:
            pass
    _build(venv, requirements, None)


def _build(venv: Path, requirements: bytes, uv: str | None) -> None:
    if uv is not None:
        subprocess.run([uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(venv)], check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    wanted = venv / "requirements.txt"
    wanted.write_bytes(requirements)
    python = str(venv / "bin" / "python")
    if uv is not None:
        install = [
            uv,
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            python,
            "-r",
            str(wanted),
        ]
    else:
        install = [python, "-m", "pip", "install", "--quiet", "-r", str(wanted)]
    subprocess.run(install, check=True, env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))


def find_uv() -> str | None:
    """uv beside this interpreter (the test virtual environment's, where the test extras put it), else
    on PATH; None without it."""
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.is_file() else shutil.which("uv")


def start_building_in_background(requirements: Path) -> subprocess.Popen[bytes] | None:
    """Start building the checkov environment for `requirements` in a process of its own, when it is not
    built yet, so the build overlaps the tests that do not need it; the tests that do wait for it on
    checkov_venv()'s lock. None when it is already built."""
    key_venv = venv_path(requirements.read_bytes())
    if (key_venv / STAMP).is_file():
        return None
    code = (
        "import sys; from pathlib import Path; from tests.support.checkov import checkov_venv; "
        "checkov_venv(Path(sys.argv[1]).read_bytes())"
    )
    root = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [sys.executable, "-c", code, str(requirements)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
