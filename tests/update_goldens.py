"""Regenerate every golden file through the product code the tests compare against:
`python -m tests.update_goldens`, then review the change with `git diff`.

The goldens: templates/ (every blueprint over the sample organization in org_roles/), tests/golden/NAME/
(the org-roles blueprint alone over tests/fixtures/orgs/NAME), and tests/golden/diffs/CASE.md (the review
diff of tests/fixtures/diffs/CASE/base against .../head, as Markdown). Tests only read these files; this
command is their only writer (tests/test_update_goldens.py checks that it reproduces them byte for byte).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.blueprints import BLUEPRINTS, org_roles
from generator.blueprints.base import RenderContext
from generator.org.loader import load_org
from generator.render import INDEX_FILE, render_all, write_atomically
from generator.review.diff import diff_orgs
from generator.review.report import format_markdown
from tests.support.paths import ROOT

FIXTURE_ORGS = ("minimal", "selfmanaged")
DIFF_FIXTURES = Path("tests/fixtures/diffs")

Goldens = dict[str, dict[str, bytes]]  # golden folder (relative to the repository) -> its exact files


def templates(root: Path) -> dict[str, bytes]:
    """templates/: what `python -m generator render` writes."""
    return render_all(RenderContext(root=root), BLUEPRINTS)


def fixture_org(root: Path, name: str) -> dict[str, bytes]:
    """tests/golden/NAME: `python -m generator render --org tests/fixtures/orgs/NAME --only org-roles`."""
    ctx = RenderContext(root=root, org_dir=Path("tests/fixtures/orgs") / name)
    return render_all(ctx, [org_roles.BLUEPRINT])


def diff_cases(root: Path) -> list[str]:
    return sorted(p.name for p in (root / DIFF_FIXTURES).iterdir())


def diff_markdown(root: Path, case: str) -> bytes:
    """tests/golden/diffs/CASE.md: `python -m generator diff --base .../CASE/base --head .../CASE/head
    --format markdown`."""
    base, head = f"{DIFF_FIXTURES}/{case}/base", f"{DIFF_FIXTURES}/{case}/head"
    report = diff_orgs(load_org(root / base, base), load_org(root / head, head), base, head)
    return format_markdown(report).encode()


def goldens(root: Path = ROOT) -> Goldens:
    """Every golden folder and exactly the files it must hold, rendered from the sources under root."""
    out: Goldens = {"templates": templates(root)}
    for name in FIXTURE_ORGS:
        out[f"tests/golden/{name}"] = fixture_org(root, name)
    out["tests/golden/diffs"] = {f"{case}.md": diff_markdown(root, case) for case in diff_cases(root)}
    return out


def _replace_folder(folder: Path, files: Mapping[str, bytes]) -> None:
    """Make folder hold exactly files: stale ones removed, the rest written."""
    if folder.exists():
        for path in sorted(folder.rglob("*"), reverse=True):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and rel not in files:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for rel, data in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def write(out_root: Path, folders: Goldens) -> None:
    """Write every golden folder under out_root; rendered folders (with index.json) are swapped in atomically,
    as `generator render` does."""
    for folder, files in folders.items():
        if INDEX_FILE in files:
            write_atomically(out_root / folder, files)
        else:
            _replace_folder(out_root / folder, files)


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # no options: every golden, from and into this repository
    folders = goldens(ROOT)
    write(ROOT, folders)
    for folder, files in folders.items():
        print(f"{folder}: {len(files)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
