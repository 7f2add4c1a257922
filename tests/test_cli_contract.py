"""The contract every command line of the product keeps (`python -m generator`, `python -m pipeline`,
`python -m pipeline.app_deploy`): bad arguments give exit 2 and exactly one line on stderr, never a
traceback; --debug is taken before or after the subcommand; the README's headings name real options."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from generator.cli import build_parser as generator_parser
from generator.cli import main as generator_main
from pipeline.apps.app_deploy.cli import build_parser as app_deploy_parser
from pipeline.apps.app_deploy.cli import main as app_deploy_main
from pipeline.cli import build_parser as pipeline_parser
from pipeline.cli import main as pipeline_main
from tests.support.paths import ROOT

Main = Callable[[Sequence[str] | None], int]
CLIS: dict[str, tuple[Main, Callable[[], argparse.ArgumentParser]]] = {
    "python -m generator": (generator_main, generator_parser),
    "python -m pipeline": (pipeline_main, pipeline_parser),
    "python -m pipeline.app_deploy": (app_deploy_main, app_deploy_parser),
}
MISSING = "/nonexistent/org-stacksets-test"
# Per subcommand, a command line naming an input that does not exist (None: the command reads no file).
NONEXISTENT: dict[tuple[str, str], list[str] | None] = {
    ("python -m generator", "render"): ["render", "--org", MISSING],
    ("python -m generator", "lint"): ["lint", f"{MISSING}.yaml"],
    ("python -m generator", "explain"): ["explain", "--org", MISSING, "--ou", "Root"],
    ("python -m generator", "access"): ["access", "--org", MISSING],
    ("python -m generator", "diff"): ["diff", "--base", MISSING],
    ("python -m generator", "package"): ["--root", MISSING, "package"],
    ("python -m generator", "deploy"): ["deploy", "org-pipeline", "--templates", MISSING],
    ("python -m generator", "list"): None,
    ("python -m pipeline", "plan"): ["plan", "--manifest", f"{MISSING}.json"],
    ("python -m pipeline", "sync"): ["sync", "--manifest", f"{MISSING}.json"],
    ("python -m pipeline", "drift"): ["drift", "--manifest", f"{MISSING}.json"],
    ("python -m pipeline", "local"): ["local", "show", "--manifest", f"{MISSING}.json"],
    ("python -m pipeline", "doctor"): ["doctor", "--manifest", f"{MISSING}.json"],
    ("python -m pipeline", "conformance"): [
        "conformance",
        "--ou",
        "Root/Sandbox",
        "--manifest",
        f"{MISSING}.json",
    ],
    ("python -m pipeline.app_deploy", "deploy"): None,
    ("python -m pipeline.app_deploy", "rollback"): None,
    ("python -m pipeline.app_deploy", "package"): None,
}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _required_or_valued(sub: argparse.ArgumentParser, name: str) -> list[str]:
    """A command line missing a required argument, or (for commands with none) an option's value."""
    required = [a for a in sub._actions if a.required and a.nargs not in ("*", "?")]
    if required:
        return [name]
    valued = next(
        a
        for a in sub._actions
        if a.option_strings and not isinstance(a, argparse._StoreTrueAction | argparse._HelpAction)
    )
    return [name, valued.option_strings[-1]]


def _cases() -> list[tuple[str, str, str, list[str]]]:
    cases = []
    for cli, (_main, build) in CLIS.items():
        for name, sub in _subcommands(build()).items():
            cases.append((cli, name, "unknown option", [name, "--bogus-option"]))
            cases.append((cli, name, "missing argument", _required_or_valued(sub, name)))
            argv = NONEXISTENT[(cli, name)]
            if argv is not None:
                cases.append((cli, name, "nonexistent file", argv))
    return cases


def test_every_subcommand_is_in_the_table() -> None:
    listed = {(cli, name) for cli, (_m, build) in CLIS.items() for name in _subcommands(build())}
    assert listed == set(NONEXISTENT)


@pytest.mark.parametrize(
    ("cli", "name", "what", "argv"), _cases(), ids=lambda v: v if isinstance(v, str) else None
)
def test_bad_arguments_give_exit_2_and_one_line(
    cli: str,
    name: str,
    what: str,
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    main, _build = CLIS[cli]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and err == lines[0] + "\n", err
    assert lines[0].startswith("error: ") and "Traceback" not in err


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_debug_is_taken_after_every_subcommand(cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    main, build = CLIS[cli]
    for name in _subcommands(build()):
        assert main([name, "--debug", "--help"]) == 0, name
        assert main(["--debug", name, "--help"]) == 0, name
    assert "--debug" in capsys.readouterr().out


def test_debug_after_the_subcommand_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.common.errors import UsageError

    monkeypatch.chdir(ROOT)
    with pytest.raises(UsageError):
        generator_main(["deploy", "org-pipeline", "--templates", MISSING, "--debug"])


HEADING = re.compile(r"^### `(python -m (?:generator|pipeline\.app_deploy)) ([a-z|-]+)(.*)`$", re.MULTILINE)


def test_the_readme_headings_name_every_command_and_only_real_options() -> None:
    readme = (ROOT / "README.md").read_text()
    seen = set()
    for cli, names, rest in HEADING.findall(readme):
        parsers = _subcommands(CLIS[cli][1]())
        for name in names.split("|"):
            assert name in parsers, f"README heading names `{cli} {name}`, which does not exist"
            seen.add((cli, name))
            options = {o for a in parsers[name]._actions for o in a.option_strings}
            for option in re.findall(r"--[a-z][a-z-]*", rest):
                assert option in options, f"README heading `{cli} {name}` names {option}, which it lacks"
    expected = {(c, n) for c, n in NONEXISTENT if c != "python -m pipeline"}
    assert seen == expected


def test_doctor_without_usable_credentials_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """doctor's exit codes: 0 all pass, 1 a check fails (tests/e2e/test_doctor.py), 2 bad usage, here a
    profile that does not exist: one sentence, before any AWS call."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("AWS_CONFIG_FILE", MISSING)
    assert pipeline_main(["doctor", "--profile", "no-such-profile"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: The config profile (no-such-profile) could not be found")
        and err.count("\n") == 1
    )


# A file where a folder is expected, and a folder where a file is: (cli, argv with {file} or {folder},
# the one line on stderr). Nothing is written.
WRONG_KIND = [
    (
        "python -m generator",
        ["render", "--out", "{file}"],
        "error: {file} is a file, not a folder; --out takes a folder",
    ),
    (
        "python -m generator",
        ["lint", "--templates", "{file}"],
        "error: --templates {file}: is a file, not a folder",
    ),
    (
        "python -m generator",
        ["lint", "{folder}"],
        "error: {folder}: is a folder, not a template file (use --templates for a folder)",
    ),
    (
        "python -m generator",
        ["deploy", "org-pipeline", "--templates", "{file}"],
        "error: --templates {file}: is a file, not a folder",
    ),
    (
        "python -m generator",
        ["package", "--output", "{folder}"],
        "error: --output {folder}: is a folder, not a file",
    ),
    (
        "python -m generator",
        ["diff", "--base", "HEAD", "--output", "{folder}"],
        "error: --output {folder}: is a folder, not a file",
    ),
    (
        "python -m generator",
        ["package", "--output", "{file}/sync.zip"],
        "error: --output {file}/sync.zip: {file} is a file, not a folder",
    ),
    (
        "python -m pipeline",
        ["plan", "--templates", "{file}"],
        "error: --templates {file}: is a file, not a folder",
    ),
    (
        "python -m pipeline",
        ["sync", "--templates", "{file}"],
        "error: --templates {file}: is a file, not a folder",
    ),
    (
        "python -m pipeline.app_deploy",
        ["package", "--output", "{folder}"],
        "error: --output {folder}: is a folder, not a file",
    ),
]


@pytest.mark.parametrize(
    ("cli", "argv", "message"), WRONG_KIND, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_a_file_for_a_folder_or_the_reverse_is_one_sentence_and_writes_nothing(
    cli: str,
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "a-folder").mkdir()
    names = {"file": str(tmp_path / "a-file"), "folder": str(tmp_path / "a-folder")}
    main, _build = CLIS[cli]
    assert main([a.format(**names) for a in argv]) == 2
    assert capsys.readouterr().err == message.format(**names) + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "a-folder"]
    assert (tmp_path / "a-file").read_text() == "mine" and not any((tmp_path / "a-folder").iterdir())
