"""Hostile org_roles files: alias bombs, huge files and values, deep nests and language tags are refused
while parsing, before any value is built, with one problem naming the file and line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from generator.cli import main
from generator.org import source
from generator.org.source import load_yaml
from tests.support.paths import FIXTURES

MINIMAL = FIXTURES / "orgs" / "minimal"
PLAIN = "only plain YAML (mappings, lists, strings, numbers, true/false)"


def _bomb(levels: int = 9) -> str:
    """The "billion laughs": each level is a list of ten aliases of the level before, 10**9 values in all."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


CASES: dict[str, tuple[str, str]] = {
    "alias bomb": (
        _bomb(),
        "org_roles/Root/Apps/ou.yaml:5: refused: its aliases expand to more than 50,000 values, the limit per file",
    ),
    "alias to itself": (
        "roles: &a [*a]\n",
        "org_roles/Root/Apps/ou.yaml:1: refused: alias *a refers to itself",
    ),
    "file over 1 MiB": (
        "# " + "x" * (1024 * 1024) + "\n",
        "org_roles/Root/Apps/ou.yaml: is larger than 1 MiB, the limit per file",
    ),
    "huge value": (
        "roles:\n  - role: " + "R" * 20_000 + "\n",
        "org_roles/Root/Apps/ou.yaml:2: refused: a value of 20,000 characters; the limit is 10,240",
    ),
    "deep flow nesting": (
        "roles: " + "[" * 500 + "]" * 500 + "\n",
        "org_roles/Root/Apps/ou.yaml:1: refused: nested more than 64 levels deep",
    ),
    "deep block nesting": (
        "".join("  " * i + f"k{i}:\n" for i in range(100)),
        "org_roles/Root/Apps/ou.yaml:64: refused: nested more than 64 levels deep",
    ),
    "python object/apply": (
        "roles: !!python/object/apply:os.system [echo hi]\n",
        f"org_roles/Root/Apps/ou.yaml:1: refused: tag '!!python/object/apply:os.system' is not allowed: {PLAIN}",
    ),
    "python name": (
        "roles: !!python/name:os.system\n",
        f"org_roles/Root/Apps/ou.yaml:1: refused: tag '!!python/name:os.system' is not allowed: {PLAIN}",
    ),
    "CloudFormation tag": (
        "roles: !Ref Roles\n",
        f"org_roles/Root/Apps/ou.yaml:1: refused: tag '!Ref' is not allowed: {PLAIN}",
    ),
    "binary": (
        "roles: !!binary aGk=\n",
        f"org_roles/Root/Apps/ou.yaml:1: refused: tag '!!binary' is not allowed: {PLAIN}",
    ),
    "long tag cut to an excerpt": (
        "roles: !" + "t" * 200 + " x\n",
        f"org_roles/Root/Apps/ou.yaml:1: refused: tag '!{'t' * 39}'... is not allowed: {PLAIN}",
    ),
    "long value quoted as an excerpt": (
        "roles:\n  - role: " + "R" * 5000 + "\n",
        "org_roles/Root/Apps/ou.yaml:2: roles[0].role: unknown role '" + "R" * 40 + "'...",
    ),
    "long unknown key quoted as an excerpt": (
        "k" * 300 + ": 1\n",
        "org_roles/Root/Apps/ou.yaml:1: " + "k" * 40 + "...: unknown key '" + "k" * 40 + "'... "
        "(expected one of: exclude_accounts, ou_id, parameters, roles)",
    ),
}


def _tree(tmp_path: Path, text: str) -> Path:
    org = tmp_path / "org_roles"
    shutil.copytree(MINIMAL, org)
    (org / "Root" / "Apps" / "ou.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_file_is_refused_with_one_line_and_nothing_written(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, problem = CASES[case]
    root = _tree(tmp_path, text)
    assert main(["--root", str(root), "render"]) == 2
    assert capsys.readouterr().err == f"error: 1 problem in the input: {problem}\n"
    assert not (root / "templates").exists()


def test_the_bomb_is_refused_before_any_value_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Any] = []
    monkeypatch.setattr(source, "_construct", lambda *args: built.append(args))
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    loaded, problems = load_yaml(path, "bomb.yaml")
    assert (loaded, built) == (None, [])
    assert [str(p) for p in problems] == [
        "bomb.yaml:5: refused: its aliases expand to more than 50,000 values, the limit per file"
    ]


def test_aliases_within_the_limit_still_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("a: &a [x, y]\nb: *a\n")
    loaded, problems = load_yaml(path, "ok.yaml")
    assert problems == []
    assert loaded is not None and loaded.data == {"a": ["x", "y"], "b": ["x", "y"]}
