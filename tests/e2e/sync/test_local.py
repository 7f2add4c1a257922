"""`python -m pipeline` --local through main([...]): plan, sync, move an account, show and reset the
emulated organization, each step in process against the local fidelity server."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.support.sync import write_variant


def test_local_walkthrough(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state.json"
    v1 = write_variant(tmp_path / "v1")
    common = [
        "--manifest",
        str(v1 / "manifest.json"),
        "--templates",
        str(v1 / "templates"),
        "--local",
        "--local-state",
        str(state),
        "--quiet",
    ]
    assert main(["plan", *common, "--exit-code"]) == 1  # changes to make
    assert capsys.readouterr().out.startswith("plan: 4 create\n")
    assert main(["sync", *common]) == 2  # not at a terminal, no --yes
    asked = capsys.readouterr()
    assert "confirm with --yes" in asked.err
    assert "\nOrg roles: deployed -> " in asked.out  # the IAM diff comes before the question
    assert main(["sync", *common, "--yes"]) == 0
    assert capsys.readouterr().out.startswith("sync success: 4 created")
    assert main(["sync", *common, "--yes", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["counts"], report["calls"]["writes"]) == ({"unchanged": 4}, 0)
    local = ["--manifest", str(v1 / "manifest.json"), "--local-state", str(state)]
    assert main(["local", "move-account", "100000000008", "Root/Security", *local]) == 0
    assert main(["sync", *common[:-1], "--yes"]) == 0  # without --quiet, and stderr is not a terminal
    moved = capsys.readouterr()
    assert "sync success: 1 updated, 3 unchanged" in moved.out
    # The step lines, and no progress line (pipeline.common.progress draws it on a terminal only).
    assert "  org-roles-" in moved.err and ": succeeded\n" in moved.err and "\r" not in moved.err
    assert main(["local", "show", *local]) == 0
    shown = capsys.readouterr().out
    assert "  100000000008 prod-1: ReadOnly\n" in shown
    assert "retained stack" not in shown  # AutoDeployment deleted the stack of the account that left
    assert main(["local", "reset", *local]) == 0 and not state.exists()
    assert gc.isenabled() and gc.get_freeze_count() == 0  # each command let the heap it froze go
