"""The CLI through main([...]): help on every command, exit codes, one-line errors on stderr."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from generator.cli import main

COMMANDS = ["render", "lint", "list", "explain", "access", "diff", "package", "deploy"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m generator {command}")


def test_top_level_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().err


def test_unknown_command_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bogus"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "invalid choice: 'bogus'" in captured.err
    assert "Traceback" not in captured.err


@pytest.fixture
def repo(tmp_path: Path, root: Path) -> Path:
    """A copy of the inputs a render needs, so tests can break it freely."""
    for name in ("org_roles",):
        if (root / name).exists():
            shutil.copytree(root / name, tmp_path / name)
    return tmp_path


def test_render_then_check_then_hand_edit(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(repo), "render"]) == 0
    assert main(["--root", str(repo), "render", "--check"]) == 0
    capsys.readouterr()
    edited = repo / "templates" / "app" / "ecr-publisher.yaml"
    edited.write_text(edited.read_text() + "# hand edit\n")
    assert main(["--root", str(repo), "render", "--check"]) == 1
    captured = capsys.readouterr()
    assert "stale: templates/app/ecr-publisher.yaml" in captured.out
    assert "out of date" in captured.err


def test_render_out_elsewhere(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    assert main(["--root", str(repo), "render", "--out", str(out)]) == 0
    assert (out / "app" / "ecr-publisher.yaml").is_file()


def test_render_refuses_foreign_folder(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = repo / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("precious")
    assert main(["--root", str(repo), "render", "--out", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "was not written by" in err
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]


@pytest.mark.slow  # renders and lints every template: seconds
def test_lint_exit_codes(repo: Path, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    assert main(["--root", str(repo), "lint", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["findings"] == [] and data["templates_checked"] >= 1
    bad = root / "tests" / "fixtures" / "lint" / "E9104_bad.yaml"
    assert main(["lint", str(bad)]) == 1
    assert "E9104" in capsys.readouterr().out


def test_lint_missing_folder_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path), "lint"]) == 2
    assert "run `python -m generator render` first" in capsys.readouterr().err


def test_list_names_every_blueprint(capsys: pytest.CaptureFixture[str]) -> None:
    from generator.blueprints import BLUEPRINTS

    assert main(["list", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in data] == [b.name for b in BLUEPRINTS]
    assert all(b["description"] and b["outputs"] for b in data)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    from pipeline.common.errors import UsageError

    with pytest.raises(UsageError):
        main(["--debug", "--root", str(tmp_path), "lint"])


def test_render_only_keeps_the_other_blueprints_templates(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(repo), "render"]) == 0
    before = {p: p.read_bytes() for p in (repo / "templates").rglob("*") if p.is_file()}
    (repo / "templates" / "app" / "cost-guard.yaml").unlink()
    capsys.readouterr()
    assert main(["--root", str(repo), "render", "--only", "cost-guard"]) == 0
    assert capsys.readouterr().out == "rendered 1 file(s) of cost-guard and index.json to templates\n"
    after = {p: p.read_bytes() for p in (repo / "templates").rglob("*") if p.is_file()}
    assert after == before
    assert main(["--root", str(repo), "render", "--check", "--only", "cost-guard"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "templates: 20 files up to date"


@pytest.mark.parametrize(
    "name",
    ["ecs-web-service", "app/ecs-web-service", "app/ecs-web-service.yaml", "app-ecs-web-service"],
)
def test_deploy_takes_the_names_list_shows_and_template_paths(root: Path, name: str) -> None:
    from generator.cli.deploy import _resolve_template

    templates = root / "templates"
    assert _resolve_template(templates, name) == (
        templates / "app" / "ecs-web-service.yaml",
        "app-ecs-web-service",
    )


def test_render_refuses_files_it_did_not_write(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(repo), "render"]) == 0
    (repo / "templates" / "app" / "notes.md").write_text("mine")
    capsys.readouterr()
    assert main(["--root", str(repo), "render"]) == 2
    assert capsys.readouterr().err == (
        f"error: {repo / 'templates'} holds files render did not write (app/notes.md); move them away or "
        "render elsewhere with --out\n"
    )
    assert (repo / "templates" / "app" / "notes.md").read_text() == "mine"


def test_render_into_a_read_only_folder_is_one_sentence(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    (repo / "templates").chmod(0o555)
    try:
        assert main(["--root", str(repo), "render"]) == 2
    finally:
        (repo / "templates").chmod(0o755)
    assert capsys.readouterr().err == (
        f"error: {repo / 'templates'} is read-only; make it writable or render elsewhere with --out\n"
    )


def test_render_check_from_a_subfolder(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    monkeypatch.chdir(repo / "org_roles" / "Root" / "Workloads")
    assert main(["render", "--check"]) == 0
    assert capsys.readouterr().out == "templates: 20 files up to date\n"
