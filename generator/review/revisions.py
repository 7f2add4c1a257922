"""Materialise org_roles/ at a git revision (or take it from a folder) and load it."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

from generator.errors import GeneratorError
from generator.org.loader import load_org
from generator.org.model import Org


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise GeneratorError("git is not installed; pass folders instead of revisions") from exc


def org_at(root: Path, where: str | None, org_dir: str) -> tuple[Org | None, str]:
    """The organization at `where` (a git revision, a folder, or None for the working tree) and a label.

    A revision without org_roles/ yields None: every role then counts as added (or removed).
    """
    if where is None:
        path = root / org_dir
        return (load_org(path, org_dir) if path.is_dir() else None), "working tree"
    folder = Path(where)
    if folder.is_dir():
        path = folder / org_dir if (folder / org_dir).is_dir() else folder
        return load_org(path, str(path)), str(folder)
    rev = _git(root, "rev-parse", "--verify", "--quiet", f"{where}^{{commit}}")
    if rev.returncode != 0:
        raise GeneratorError(f"'{where}' is neither a folder nor a git revision of {root}")
    commit = rev.stdout.decode().strip()
    listing = _git(root, "ls-tree", "--name-only", commit, "--", org_dir)
    if not listing.stdout.strip():
        return None, where
    archive = _git(root, "archive", "--format=tar", commit, "--", org_dir)
    if archive.returncode != 0:
        raise GeneratorError(f"git archive of {org_dir} at {where} failed: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tmp, filter="data")
        return load_org(Path(tmp) / org_dir, f"{where}:{org_dir}"), where
