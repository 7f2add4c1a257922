"""The golden updater (tests/update_goldens.py), run into a temporary folder, reproduces every committed
golden byte for byte: the updater and the golden tests cannot drift apart."""

from __future__ import annotations

from pathlib import Path

from tests import update_goldens
from tests.support.paths import ROOT


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_the_updater_reproduces_the_committed_goldens(tmp_path: Path) -> None:
    folders = update_goldens.goldens(ROOT)
    assert sorted(folders) == [
        "templates",
        "tests/golden/diffs",
        "tests/golden/minimal",
        "tests/golden/selfmanaged",
    ]
    update_goldens.write(tmp_path, folders)
    for folder in folders:
        written, committed = _tree(tmp_path / folder), _tree(ROOT / folder)
        assert sorted(written) == sorted(committed), folder
        for rel, data in committed.items():
            assert written[rel] == data, f"{folder}/{rel}"


def test_the_updater_leaves_exactly_the_rendered_files(tmp_path: Path) -> None:
    stale = tmp_path / "tests" / "golden" / "diffs" / "gone.md"
    stale.parent.mkdir(parents=True)
    stale.write_text("a case that no longer exists\n")
    folders = {"tests/golden/diffs": {"kept.md": b"x\n"}}
    update_goldens.write(tmp_path, folders)
    assert _tree(tmp_path / "tests" / "golden" / "diffs") == {"kept.md": b"x\n"}
