"""docs/conformance.md, the AWS conformance table: every row well formed, every test it names exists."""

from __future__ import annotations

import ast
import re
from functools import cache

import pytest

from tests.support.paths import ROOT as REPO

TABLE = REPO / "docs" / "conformance.md"
STATUSES = {"documented", "inferred", "unverified"}
LINK = re.compile(r"\[[^\]]+\]\((https://[^)\s]+)\)")
AWS_DOCS = ("https://docs.aws.amazon.com/", "https://github.com/aws-cloudformation/")


def rows() -> list[tuple[int, list[str]]]:
    found = []
    for number, line in enumerate(TABLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("|") or line.startswith("|---") or line.startswith("| Behaviour"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        found.append((number, cells))
    return found


@cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    return frozenset(
        n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    )


def problems(number: int, cells: list[str]) -> list[str]:
    where = f"docs/conformance.md:{number}"
    if len(cells) != 4:
        return [f"{where}: 4 cells (behaviour | documentation | test | status), got {len(cells)}"]
    behaviour, docs, test, status = cells
    found = []
    if len(behaviour) < 20:
        found.append(f"{where}: the behaviour is not described")
    links = LINK.findall(docs)
    if not links or not all(link.startswith(AWS_DOCS) for link in links):
        found.append(f"{where}: the documentation cell links AWS documentation or an AWS issue thread")
    path, _, name = test.partition("::")
    if not (REPO / path).is_file() or not path.startswith("tests/"):
        found.append(f"{where}: no test file {path}")
    elif name.split("[")[0] not in defined_tests(path):
        found.append(f"{where}: {path} has no test named {name}")
    if status not in STATUSES:
        found.append(f"{where}: the status is one of {sorted(STATUSES)}, got {status!r}")
    return found


def test_every_row_is_well_formed_and_names_a_test_that_exists() -> None:
    table = rows()
    assert len(table) >= 20
    assert [p for n, cells in table for p in problems(n, cells)] == []


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["short", "[x](https://docs.aws.amazon.com/a)", "tests/test_conformance_table.py::nope", "sure"], 3),
        (["a behaviour long enough to count", "no link", "tests/missing.py::test_x", "documented"], 2),
        (["only", "three"], 1),
    ],
)
def test_the_check_finds_broken_rows(cells: list[str], expected: int) -> None:
    assert len(problems(1, cells)) == expected


def test_the_readme_links_the_table() -> None:
    assert "(docs/conformance.md)" in (REPO / "README.md").read_text(encoding="utf-8")
