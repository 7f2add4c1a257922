"""The gate's parallel, cached lint gives exactly what one plain cfn-lint process gives."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.cli import main
from generator.lint.gate import IGNORED_CHECKS, RULES_DIR, lint_templates
from tests.support import paths

pytestmark = pytest.mark.slow  # cfn-lint over every rendered template, twice: seconds

Row = tuple[str, int, int, str, str]


def _plain_cfn_lint(files: list[Path], root: Path) -> set[Row]:
    """One `cfn-lint` process over all files, with the gate's settings on its command line."""
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("cfn-lint")),
            "--format",
            "json",
            "--append-rules",
            str(RULES_DIR),
            "--include-checks",
            "I",
            "--ignore-checks",
            *sorted(IGNORED_CHECKS),
            "--regions",
            "us-east-1",
            "--",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
    )
    assert proc.returncode in (0, 2, 4, 6, 8, 10, 12, 14), proc.stderr[-2000:]
    return {
        (
            Path(m["Filename"]).resolve().relative_to(root).as_posix(),
            m["Location"]["Start"]["LineNumber"],
            m["Location"]["Start"]["ColumnNumber"],
            m["Rule"]["Id"],
            m["Message"],
        )
        for m in json.loads(proc.stdout)
    }


def test_parallel_findings_equal_one_plain_cfn_lint_process(
    rendered: dict[str, bytes], tmp_path: Path
) -> None:
    """Over the rendered templates (which have none), plus the rule fixtures so that there are findings
    to compare."""
    for rel, data in rendered.items():
        (tmp_path / "templates" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "templates" / rel).write_bytes(data)
    shutil.copytree(paths.FIXTURES / "lint", tmp_path / "fixtures")
    files = sorted(tmp_path.rglob("*.yaml"))
    assert len(files) >= 20
    expected = _plain_cfn_lint(files, tmp_path)
    assert {r[3] for r in expected} >= {"E9101", "E9102", "E9103", "E9104", "E9105"}
    got = {
        (f.file, f.line, f.column, f.rule, f.message) for f in lint_templates(files, root=tmp_path, jobs=2)
    }
    assert got == expected  # (one worker: the --no-cache run of the next test)
    rendered_findings = [str(r) for r in expected if r[0].startswith("templates/")]
    assert rendered_findings == [], "the rendered templates must pass the gate"


def _lint(repo: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[str]:
    code = main(["--root", str(repo), "lint", "--templates", str(repo / "fixtures"), *extra])
    captured = capsys.readouterr()
    assert captured.err == ""  # no progress when stderr is not a terminal
    assert code == 1
    return captured.out.splitlines()


def test_the_cache_answers_unchanged_templates_and_no_cache_bypasses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    shutil.copytree(paths.FIXTURES / "lint", repo / "fixtures")
    cold = _lint(repo, capsys, "--jobs", "2")
    entries = sorted((repo / ".cache" / "lint").glob("*.json"))
    assert len(entries) == len(list((repo / "fixtures").glob("*.yaml")))
    assert _lint(repo, capsys) == cold
    # Prove the second answer came from the cache: doctor one entry and see it in the output.
    bad = repo / "fixtures" / "E9104_bad.yaml"
    entry = next(e for e in entries if "Deployer allows" in e.read_text())
    entry.write_text(json.dumps({"findings": [[1, 1, "E9104", "from the cache", "d", "u"]]}))
    warm = _lint(repo, capsys)
    assert "fixtures/E9104_bad.yaml:1:1: E9104 [error] from the cache" in warm
    assert _lint(repo, capsys, "--no-cache", "--jobs", "1") == cold  # cfn-lint again, cache neither read ...
    assert "from the cache" in entry.read_text()  # ... nor written
    # A changed template misses and is linted again.
    bad.write_text(bad.read_text() + "\n")
    assert _lint(repo, capsys) == cold


def test_the_loaded_rules_are_frozen_while_linting_and_the_collector_restored_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """cfn-lint's loaded rules sit in the collector's permanent generation while templates are linted (no
    collection walks them, and forked workers share their pages), and go back to the collector after."""
    import gc

    from generator.lint import gate

    seen: list[tuple[int, bool]] = []
    lint_one = gate._lint_one

    def watched(name: str) -> tuple[str, list[tuple[int, int, str, str, str, str]], bool]:
        seen.append((gc.get_freeze_count(), gc.isenabled()))
        return lint_one(name)

    monkeypatch.setattr(gate, "_lint_one", watched)
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    bad = paths.FIXTURES / "lint" / "E9104_bad.yaml"
    assert {f.rule for f in lint_templates([bad], jobs=1)} == {"E9104"}
    [(frozen, enabled)] = seen
    assert frozen > 10_000 and not enabled  # the rules, cfn-lint's schemas and modules
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    gc.freeze()  # a caller's own freeze: the gate neither adds to it nor undoes it
    try:
        before = gc.get_freeze_count()
        lint_templates([bad], jobs=1)
        assert seen[-1][0] == before == gc.get_freeze_count()
    finally:
        gc.unfreeze()
