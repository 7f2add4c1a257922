"""The manifest and its templates read from files: the command line's (and the benchmarks') way in; the
Lambda reads the same from its pipeline artifact (pipeline.job)."""

from __future__ import annotations

from pathlib import Path

from pipeline.common.cli import input_folder
from pipeline.common.errors import Problem
from pipeline.core.errors import ManifestError
from pipeline.core.manifest import Manifest, check_templates, loads_manifest


def load_manifest(path: Path) -> Manifest:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError(
            [
                Problem(
                    str(path), "", f"cannot be read ({exc.strerror}); run `python -m generator render` first"
                )
            ]
        ) from exc
    return loads_manifest(raw, str(path))


def load_templates(manifest: Manifest, templates_dir: Path) -> dict[str, str]:
    input_folder(templates_dir, "--templates")
    bodies: dict[str, bytes] = {}
    paths = [s.template for s in manifest.stacksets]
    if manifest.management_account_stack is not None:
        paths.append(manifest.management_account_stack.template)
    for rel in paths:
        file = templates_dir / rel
        if file.is_file():
            bodies[rel] = file.read_bytes()
    return check_templates(manifest, bodies)
