"""`python -m pipeline` through main([...]): help, exit codes and one-line errors
(the --local walkthrough is in tests/e2e/sync/test_local.py)."""

from __future__ import annotations

import argparse
import re
import sys
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


@pytest.mark.parametrize(
    ("command", "epilog"),
    [
        (
            "plan",
            "Exit codes: 0 done (changes or none), 1 changes with --exit-code, or a sync would stop at the "
            "deletion guard, 2 bad input or usage.",
        ),
        (
            "sync",
            "Exit codes: 0 success, 1 a failed operation, a deletion-guard stop or the question answered "
            "no, 2 bad input or usage (also: no terminal and no --yes), 130 interrupted (Ctrl-C: the "
            "operations still running in AWS are named; rerun with their --run-id to adopt them).",
        ),
        ("local", "Exit codes: 0 success, 1 failure, 2 bad input or usage."),
        (
            "drift",
            "Exit codes: 0 done (drift or none), 1 drift with --exit-code or a detection that failed, "
            "2 bad input or usage.",
        ),
    ],
)
def test_help_gives_every_option_a_default_and_the_exit_codes(command: str, epilog: str) -> None:
    parser = _subparser(command)
    assert (parser.epilog or "").rsplit("\n\n", 1)[-1] == epilog
    undocumented = [
        a.option_strings[0]
        for a in parser._actions
        if a.option_strings and a.nargs != 0 and "(default" not in (a.help or "")
    ]
    assert undocumented == []  # flags (nargs 0) are off unless given


def test_local_help_lists_every_action_with_its_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.cli.local import ACTIONS

    assert main(["local", "--help"]) == 0
    out = capsys.readouterr().out
    listed = out.split("\nactions:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split("  ")[1].strip() for line in listed] == [
        " ".join((a.name, *a.arguments)) for a in ACTIONS
    ]
    assert [a.name for a in ACTIONS] == [
        "show",
        "move-account",
        "create-ou",
        "rename-ou",
        "delete-ou",
        "create-account",
        "edit-role",
        "fail-account",
        "heal-account",
        "reset",
        "serve",
    ]


def _subparser(command: str) -> argparse.ArgumentParser:
    from pipeline.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--local"],
        ["sync", "--local", "--yes"],
        ["local", "show"],
        ["local", "serve"],
    ],
)
def test_local_without_the_local_extras_says_what_to_install(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if moto were not installed: every `import moto...` fails, as ModuleNotFoundError."""
    for name in [m for m in sys.modules if m == "moto" or m.startswith("moto.")] + ["moto"]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in ("pipeline.emulator.local", "pipeline.emulator.server", "pipeline.emulator.cfn_models"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    manifest = ["--manifest", str(FIXTURE / "manifest.json")]
    templates = ["--templates", str(FIXTURE / "templates")] if argv[0] != "local" else []
    assert main([*argv, *manifest, *templates]) == 2
    assert capsys.readouterr().err == (
        "error: --local needs the local extras (moto is not installed): "
        "run `.venv/bin/pip install -e '.[local]'`\n"
    )


def test_readme_pipeline_headings_name_only_options_the_commands_have() -> None:
    """Each code span of a `python -m pipeline` heading (e.g. `plan|sync [--local]`, `sync [--yes]`) names
    commands and options: every option must exist on every command named, with the values shown."""
    from tests.support.paths import ROOT

    readme = (ROOT / "README.md").read_text()
    start = readme.index("## The sync: the live OU tree onto StackSets")
    section = readme[start : readme.index("\n## ", start + 1)]
    checked = []
    for heading in re.findall(r"^###.*$", section, re.M):
        for span in re.findall(r"`([^`]+)`", heading):
            words = span.removeprefix("python -m pipeline ").split()
            if not words or not set(words[0].split("|")) <= {"plan", "sync", "local"}:
                continue
            for command in words[0].split("|"):
                parser = _subparser(command)
                for option, values in re.findall(r"\[(--[\w-]+)(?: ([^\]]+))?\]", span):
                    action = parser._option_string_actions.get(option)
                    assert action is not None, (heading, command, option)
                    if values and action.choices:
                        assert set(values.split("|")) == set(action.choices), (heading, option)
                    checked.append((command, option))
    assert ("sync", "--yes") in checked and ("plan", "--exit-code") in checked


def test_local_without_an_action_names_only_the_action(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local"]) == 2
    assert capsys.readouterr().err == (
        "error: python -m pipeline local: the following arguments are required: ACTION (see --help)\n"
    )
