"""The README's --local walkthrough runs as written: every command, in a copy of the repository's inputs,
exits 0, and each sync or plan headline is the one the README shows (run ids aside)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

RUN_ID = re.compile(r"\(run [0-9a-f-]{36}\)")


def walkthrough() -> list[tuple[str, list[str]]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("### `--local` walkthrough", 1)[1].split("\n### ", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
    return steps


@pytest.mark.slow
def test_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    steps = walkthrough()
    assert [c for c, _o in steps if "pipeline sync" in c] and [c for c, _o in steps if "move-account" in c]
    for name in ("org_roles", "templates"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    for command, shown in steps:
        if command.startswith("git "):
            continue  # the reader's clone is a git repository; this copy is not, and has nothing to undo
        proc = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
        if "-m pipeline plan" in command or "-m pipeline sync" in command:
            got = RUN_ID.sub("(run X)", proc.stdout.splitlines()[0])
            assert got == RUN_ID.sub("(run X)", shown[0]), command
            assert proc.stdout.splitlines()[-1] == shown[-1], command  # the API call counts
