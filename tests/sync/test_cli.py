"""`python -m pipeline` through main([...]): help, exit codes, one-line errors, and the --local walkthrough."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.sync.support import FIXTURE, write_variant


@pytest.mark.parametrize("command", ["plan", "sync", "local"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m pipeline {command}")


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err and "Traceback" not in err


def test_missing_manifest_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--manifest", str(tmp_path / "none.json"), "--local"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: 1 problem in the manifest:")
        and "run `python -m generator render` first" in err
    )


def test_unreachable_endpoint_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    args = ["plan", "--manifest", str(FIXTURE / "manifest.json"), "--templates", str(FIXTURE / "templates")]
    assert main([*args, "--endpoint-url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert (
        err
        == 'error: reading the organization failed: EndpointConnectionError: Could not connect to the endpoint URL: "http://127.0.0.1:9/"\n'
    )


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
    assert main(["sync", *common, "--yes"]) == 0
    assert "sync success: 1 updated, 3 unchanged" in capsys.readouterr().out
    assert main(["local", "show", *local]) == 0
    shown = capsys.readouterr().out
    assert "  100000000008 prod-1: ReadOnly\n" in shown
    assert "retained stack of org-roles-Developer in 100000000008 (no longer managed)" in shown
    assert main(["local", "reset", *local]) == 0 and not state.exists()
