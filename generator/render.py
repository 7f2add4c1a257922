"""Render every blueprint to bytes in memory, compare with a folder, and replace a folder atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from troposphere import Template

from generator.blueprints.base import Blueprint, JsonDocument, RenderContext
from generator.errors import GeneratorError, OutputError
from generator.output import dump_json, dump_yaml, header_lines

INDEX_FILE = "index.json"
GENERATOR_ID = "org-stacksets generator"


@dataclass(frozen=True)
class CheckResult:
    stale: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def _to_bytes(blueprint: Blueprint, path: str, doc: Template | JsonDocument | bytes) -> bytes:
    if isinstance(doc, bytes):
        return doc  # already serialised by the blueprint (it needed the bytes, e.g. for a sha256)
    if isinstance(doc, JsonDocument):
        return dump_json(doc.data)
    if not path.endswith((".yaml", ".yml")):
        raise GeneratorError(f"blueprint '{blueprint.name}' rendered a template to '{path}', not .yaml")
    return dump_yaml(doc.to_dict(), header_lines(blueprint.name, blueprint.source))


def render_all(ctx: RenderContext, blueprints: Iterable[Blueprint]) -> dict[str, bytes]:
    """Every output file as bytes, keyed by POSIX path relative to the output folder, plus index.json."""
    files: dict[str, bytes] = {}
    owners: dict[str, str] = {}
    for blueprint in blueprints:
        for path, doc in blueprint.build(ctx).items():
            if path in files:
                raise GeneratorError(
                    f"blueprints '{owners[path]}' and '{blueprint.name}' both render '{path}'"
                )
            files[path] = _to_bytes(blueprint, path, doc)
            owners[path] = blueprint.name
    index = {
        "generated_by": GENERATOR_ID,
        "files": {
            path: {"blueprint": owners[path], "sha256": hashlib.sha256(data).hexdigest()}
            for path, data in sorted(files.items())
        },
    }
    files[INDEX_FILE] = dump_json(index)
    return dict(sorted(files.items()))


def _existing_files(out_dir: Path) -> dict[str, Path]:
    if not out_dir.is_dir():
        return {}
    return {
        p.relative_to(out_dir).as_posix(): p
        for p in sorted(out_dir.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def check(out_dir: Path, rendered: Mapping[str, bytes]) -> CheckResult:
    """Compare a fresh render with a folder: files that differ, are missing, or should not be there."""
    existing = _existing_files(out_dir)
    stale = tuple(p for p, data in rendered.items() if p in existing and existing[p].read_bytes() != data)
    missing = tuple(p for p in rendered if p not in existing)
    extra = tuple(p for p in existing if p not in rendered)
    return CheckResult(stale=stale, missing=missing, extra=extra)


def _is_ours(out_dir: Path) -> bool:
    """True when the folder is absent, empty, or holds an index.json written by this generator."""
    if not out_dir.exists():
        return True
    if not out_dir.is_dir():
        return False
    if not any(out_dir.iterdir()):
        return True
    index = out_dir / INDEX_FILE
    try:
        return json.loads(index.read_text("utf-8")).get("generated_by") == GENERATOR_ID
    except (OSError, ValueError, AttributeError):
        return False


def write_atomically(out_dir: Path, rendered: Mapping[str, bytes]) -> None:
    """Replace out_dir with exactly `rendered`: written to a sibling folder first, then swapped in.

    A failure before the swap leaves out_dir untouched. The folder must be one this generator wrote
    (it carries index.json) or be empty, so `--out` can never wipe a folder of someone else's files.
    """
    out_dir = out_dir.resolve()
    if not _is_ours(out_dir):
        raise OutputError(
            f"{out_dir} exists and was not written by `generator render` (no {INDEX_FILE} of ours); "
            "choose an empty or new folder"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the folder should look like any other
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    try:
        for rel, data in rendered.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out_dir.exists():
            out_dir.rename(old)
        staging.rename(out_dir)
    except BaseException:
        if old.exists() and not out_dir.exists():
            old.rename(out_dir)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
