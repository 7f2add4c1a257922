"""Reproducible Lambda packaging: the sync Lambda's include list as a zip whose bytes depend only on its sources.

Entries are sorted, timestamps fixed (1980-01-01, the zip epoch), permissions fixed (0644), no
directory entries, no __pycache__; so the same sources give the same sha256 on every run and machine
(with the same zlib), and CloudFormation sees a code change only when the code changed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from generator.errors import GeneratorError
from pipeline.common.cli import write_file

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
INCLUDED_SUFFIXES = (".py",)
# What the sync Lambda runs, and nothing else (an include list, so a new module never ships by accident):
# the handler and its job logic, the engine, the pure core, the AWS adapters, and the shared errors.
# The emulator, the application Lambdas, the command lines and the plan's review stay out
# (tests/test_pipeline/test_architecture.py lists the zip).
SYNC_LAMBDA = (
    "pipeline/__init__.py",
    "pipeline/handler.py",
    "pipeline/job.py",
    "pipeline/sync.py",
    "pipeline/core/",
    "pipeline/aws/",
    "pipeline/common/__init__.py",
    "pipeline/common/errors.py",
)
# Workstation-only modules inside the folders above: the doctor's checks and reads and the conformance kit
# run from `python -m pipeline`, never in the Lambda.
SYNC_LAMBDA_LEAVES_OUT = ("pipeline/aws/conformance.py", "pipeline/aws/doctor.py", "pipeline/core/checks.py")

# Third-party code the Lambda runs, copied from the installed distribution (its .py files only, so the pure
# Python implementation): PyYAML, with which the trusted guardrails read the templates they check before the
# sync deploys them (pipeline/core/guardrails.py). The Lambda runtime ships boto3 but no YAML parser.
VENDORED = ("yaml",)


@dataclass(frozen=True)
class Package:
    path: Path
    sha256: str
    size: int
    files: int


def lambda_sources(
    root: Path, include: tuple[str, ...] = SYNC_LAMBDA, leave_out: tuple[str, ...] = SYNC_LAMBDA_LEAVES_OUT
) -> list[Path]:
    """The files of the include list under `root`: named files, and the .py files of named folders but the
    ones left out."""
    if not (root / "pipeline" / "__init__.py").is_file():
        raise GeneratorError(f"pipeline/: no such Python package under {root}")
    found: set[Path] = set()
    for entry in include:
        path = root / entry
        if entry.endswith("/"):
            found.update(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix in INCLUDED_SUFFIXES and "__pycache__" not in p.parts
            )
        elif path.is_file():
            found.add(path)
        else:
            raise GeneratorError(f"{entry}: listed for the sync Lambda but missing under {root}")
    return sorted(found - {root / entry for entry in leave_out})


def vendored_sources(names: tuple[str, ...] = VENDORED) -> list[tuple[str, Path]]:
    """(name in the zip, file) for every .py file of the installed packages the Lambda ships."""
    out: list[tuple[str, Path]] = []
    for name in names:
        spec = importlib.util.find_spec(name)
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            raise GeneratorError(f"{name}: not installed, but the sync Lambda ships it (pip install -e .)")
        base = Path(locations[0])
        out += [
            (f"{name}/{p.relative_to(base).as_posix()}", p)
            for p in base.rglob("*.py")
            if "__pycache__" not in p.parts
        ]
    return out


def build_zip(root: Path, files: list[Path], extra: list[tuple[str, Path]] | None = None) -> bytes:
    buffer = io.BytesIO()
    entries = sorted([(p.relative_to(root).as_posix(), p) for p in files] + list(extra or []))
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, path in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o100644 << 16  # regular file, rw-r--r--
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the building machine is
            zf.writestr(info, path.read_bytes())
    return buffer.getvalue()


def package_lambda(root: Path, out: Path) -> Package:
    files = lambda_sources(root)
    extra = vendored_sources()
    data = build_zip(root, files, extra)
    write_file(out, data)
    return Package(out, hashlib.sha256(data).hexdigest(), len(data), len(files) + len(extra))
