"""`python -m pipeline` through main([...]): help, exit codes and one-line errors
(the --local walkthrough is in tests/e2e/sync/test_local.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from tests.support.sync import FIXTURE


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
