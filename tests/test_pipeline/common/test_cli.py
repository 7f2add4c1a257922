"""The shared command-line runner: the repository root found from any subfolder (as git finds .git), default
paths resolved against it, typed paths against the current folder, output files written whole, and one
sentence for a file where a folder is expected (and the reverse)."""

from __future__ import annotations

import argparse
import ast
import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.common.cli import (
    RootPath,
    exit_process,
    find_root,
    input_folder,
    output_file,
    repository_root,
    write_file,
)
from pipeline.common.errors import UsageError

ROOT = Path(__file__).resolve().parents[3]


def test_find_root_walks_up_to_the_nearest_marker(tmp_path: Path) -> None:
    (tmp_path / "repo" / "org_roles" / "Root").mkdir(parents=True)
    (tmp_path / "repo" / "org_roles" / "org.yaml").write_text("{}")
    (tmp_path / "repo" / "org_roles" / "Root" / "org_roles").mkdir()  # no org.yaml: not a root
    assert find_root(tmp_path / "repo" / "org_roles" / "Root" / "org_roles") == tmp_path / "repo"
    (tmp_path / "other" / "sub").mkdir(parents=True)
    (tmp_path / "other" / ".git").write_text("gitdir: elsewhere")  # a worktree's .git is a file
    assert find_root(tmp_path / "other" / "sub") == tmp_path / "other"


def test_no_root_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("pipeline.common.cli.find_root", lambda _start: None)
    with pytest.raises(UsageError) as caught:
        repository_root(None)
    assert str(caught.value) == (
        f"no repository here: neither {tmp_path.resolve()} nor a folder above it holds org_roles/org.yaml or "
        ".git (run from inside the repository, or pass --root)"
    )
    with pytest.raises(UsageError) as caught:
        repository_root(str(tmp_path / "nope"))
    assert str(caught.value) == f"--root {tmp_path / 'nope'}: no such folder"


def test_input_folder_and_output_file_refuse_the_wrong_kind(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder").mkdir()
    cases = [
        (
            lambda: input_folder(tmp_path / "a-file", "--templates"),
            f"--templates {tmp_path}/a-file: is a file, not a folder",
        ),
        (
            lambda: output_file(tmp_path / "a-folder"),
            f"--output {tmp_path}/a-folder: is a folder, not a file",
        ),
        (
            lambda: write_file(tmp_path / "a-file" / "x.zip", b"zip"),
            f"--output {tmp_path}/a-file/x.zip: {tmp_path}/a-file is a file, not a folder",
        ),
    ]
    for call, message in cases:
        with pytest.raises(UsageError) as caught:
            call()
        assert str(caught.value) == message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "a-folder"]
    assert (tmp_path / "a-file").read_text() == "x" and not any((tmp_path / "a-folder").iterdir())


def test_write_file_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    write_file(tmp_path / "out" / "x.md", b"one")
    write_file(tmp_path / "out" / "x.md", b"two")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x.md"]
    assert (tmp_path / "out" / "x.md").read_bytes() == b"two"


def test_root_path_defaults_survive_argparse() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=RootPath("templates"))
    assert isinstance(parser.parse_args([]).out, RootPath)
    assert not isinstance(parser.parse_args(["--out", "x"]).out, RootPath)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def changed_repo(tmp_path: Path, root: Path) -> Path:
    """A git repository of the sample organization whose last commit gives Developer s3:* on *."""
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(root / "org_roles", repo / "org_roles")
    (repo / "tests").mkdir()
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    role = repo / "org_roles" / "roles" / "Developer.yaml"
    everything = 'statements:\n  - sid: Everything\n    actions: ["s3:*"]\n    resources: ["*"]\n'
    role.write_text(role.read_text().replace("statements:\n", everything))
    _git(repo, "commit", "-q", "-am", "broaden")
    return repo


@pytest.mark.parametrize("where", [".", "tests", "org_roles/Root", "org_roles/roles"])
def test_generator_diff_gives_the_same_answer_from_any_subfolder(
    changed_repo: Path, where: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from generator.cli import main

    monkeypatch.chdir(changed_repo)
    assert main(["diff", "--exit-code", "--base", "HEAD~1"]) == 1
    expected = capsys.readouterr().out
    assert expected.splitlines()[0] == "Org roles: HEAD~1 -> working tree"
    assert "Developer: changed, broadened; wildcard" in expected
    monkeypatch.chdir(changed_repo / where)
    assert main(["diff", "--exit-code", "--base", "HEAD~1"]) == 1
    assert capsys.readouterr().out == expected


def test_pipeline_defaults_are_under_the_root_from_a_subfolder(
    changed_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main

    state = changed_repo / ".local-sync" / "state.json"
    state.parent.mkdir()
    state.write_text("{}")
    monkeypatch.chdir(changed_repo / "org_roles" / "Root")
    assert main(["local", "reset"]) == 0
    assert capsys.readouterr().out == f"removed {state}\n"
    assert not state.exists()
    assert main(["plan", "--local"]) == 2
    manifest = changed_repo / "templates" / "org" / "manifest.json"
    assert capsys.readouterr().err.startswith(f"error: 1 problem in the manifest: {manifest}: cannot be read")


def test_a_path_that_cannot_be_used_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.cli import main

    state = tmp_path / "state"
    state.mkdir()
    assert main(["local", "reset", "--local-state", str(state)]) == 2
    assert capsys.readouterr().err == f"error: {state}: Is a directory\n"
    assert state.is_dir()


def test_exit_process_freezes_the_heap_and_exits_with_the_code() -> None:
    try:
        with pytest.raises(SystemExit) as caught:
            exit_process(3)
        assert caught.value.code == 3
        assert gc.get_freeze_count() > 0  # the exit-time collection skips these
    finally:
        gc.unfreeze()


def test_exit_process_still_runs_atexit_handlers_and_flushes_output(tmp_path: Path) -> None:
    program = (
        "import atexit, gc, sys\n"
        "from pipeline.common.cli import exit_process\n"
        "atexit.register(lambda: print('atexit ran, frozen:', gc.get_freeze_count() > 0))\n"
        "sys.stdout.write('unflushed line\\n')\n"
        "exit_process(3)\n"
    )
    buffered = {
        k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"
    }  # the line waits for the exit flush
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, check=False, env=buffered
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == "unflushed line\natexit ran, frozen: True\n"


@pytest.mark.parametrize(
    "main", ["generator/__main__.py", "pipeline/__main__.py", "pipeline/app_deploy/__main__.py"]
)
def test_every_program_ends_through_exit_process(main: str) -> None:
    last = ast.parse((ROOT / main).read_text()).body[-1]
    assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
    assert ast.unparse(last.value) == "exit_process(main())"
