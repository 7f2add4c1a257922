"""The review diff: golden reports for fixture pairs, grading, formats, git revisions and the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from generator.cli import main
from generator.org.loader import load_org
from generator.review import grading as g
from generator.review.diff import OuChange, Report, RoleChange, diff_orgs
from generator.review.iamview import Grant, TrustGrant, permission_grants, resolve
from generator.review.report import format_json, format_markdown, format_text
from tests.support import paths

FIXTURES = paths.FIXTURES / "diffs"
GOLDEN = paths.GOLDEN / "diffs"
CASES = sorted(p.name for p in FIXTURES.iterdir())
SCHEMA = json.loads((paths.ROOT / "generator" / "schemas" / "diff.schema.json").read_text())


def _report(case: str):
    base = load_org(FIXTURES / case / "base", f"tests/fixtures/diffs/{case}/base")
    head = load_org(FIXTURES / case / "head", f"tests/fixtures/diffs/{case}/head")
    return diff_orgs(base, head, f"tests/fixtures/diffs/{case}/base", f"tests/fixtures/diffs/{case}/head")


def test_every_fixture_pair_has_a_golden() -> None:
    assert (
        sorted(p.stem for p in GOLDEN.glob("*.md"))
        == CASES
        == [
            "actions_narrowed",
            "attached_at_parent",
            "ou_renamed",
            "parameter_changed",
            "reordered_only",
            "role_removed",
            "trust_widened",
        ]
    )


@pytest.mark.parametrize("case", CASES)
def test_markdown_matches_golden(case: str) -> None:
    """Update with: python -m tests.update_goldens (the diff of tests/fixtures/diffs/CASE/base against
    .../head, as Markdown)."""
    assert format_markdown(_report(case)) == (GOLDEN / f"{case}.md").read_text()


@pytest.mark.parametrize("case", CASES)
def test_json_follows_the_documented_schema(case: str) -> None:
    jsonschema.validate(json.loads(format_json(_report(case))), SCHEMA)


EXPECTED = {
    # case: [(ou, role, kind, grade, flags)]
    "actions_narrowed": [
        ("Root", "Reader", "changed", "narrowed", ()),
        ("Root/Apps", "Reader", "changed", "narrowed", ()),
        ("Root/Apps/Prod", "Reader", "changed", "narrowed", ()),
    ],
    "attached_at_parent": [
        ("Root/Apps", "Writer", "added", "broadened", ("trust-widened",)),
        ("Root/Apps/Prod", "Writer", "added", "broadened", ("trust-widened",)),
    ],
    "ou_renamed": [],
    "parameter_changed": [("Root/Apps/Prod", "Reader", "changed", "broadened", ())],
    "reordered_only": [],
    "role_removed": [
        ("Root", "Reader", "removed", "narrowed", ("removed",)),
        ("Root/Apps", "Reader", "removed", "narrowed", ("removed",)),
        ("Root/Apps/Prod", "Reader", "removed", "narrowed", ("removed",)),
    ],
    "trust_widened": [
        (ou, "Reader", "changed", "broadened", ("trust-widened", "condition-removed", "mfa-dropped"))
        for ou in ("Root", "Root/Apps", "Root/Apps/Prod")
    ],
}


@pytest.mark.parametrize("case", CASES)
def test_changes_and_grades(case: str) -> None:
    report = _report(case)
    got = [(o.ou, r.role, r.kind, r.grade, r.flags) for o in report.ous for r in o.roles]
    assert got == EXPECTED[case]


def test_reordering_is_no_change_and_renames_are_recognised() -> None:
    assert _report("reordered_only").empty
    assert format_text(_report("reordered_only")).splitlines()[1] == "No changes."
    renamed = _report("ou_renamed")
    assert [(o.ou, o.renamed_from) for o in renamed.ous] == [
        ("Root/Applications", "Root/Apps"),
        ("Root/Applications/Prod", "Root/Apps/Prod"),
    ]


@pytest.mark.parametrize(
    ("grant", "wildcard", "escalation"),
    [
        (Grant("Allow", "s3:GetObject", "arn:aws:s3:::b/*"), False, False),
        (Grant("Allow", "s3:*", "arn:aws:s3:::b/*"), True, False),
        (Grant("Allow", "s3:GetObject", "*"), True, False),
        (Grant("Allow", "iam:PassRole", "arn:aws:iam::1:role/x"), False, True),
        (Grant("Allow", "iam:Put*", "arn:aws:iam::1:role/x"), True, True),
        (Grant("Allow", "sts:AssumeRole", "arn:aws:iam::1:role/x"), False, False),
        (Grant("Allow", "sts:AssumeRole", "*"), True, True),
        (Grant("Allow", "lambda:UpdateFunctionCode", "arn:aws:lambda:*:1:function:f"), False, True),
        (Grant("Deny", "*", "*"), False, False),
    ],
)
def test_grading_of_grants(grant: Grant, wildcard: bool, escalation: bool) -> None:
    assert (g.is_wildcard(grant), g.escalates(grant)) == (wildcard, escalation)


def test_trust_flags() -> None:
    mfa = '{"Bool":{"aws:MultiFactorAuthPresent":["true"]}}'
    old = TrustGrant("AWS", "arn:aws:iam::2:root", "sts:AssumeRole", mfa)
    new = TrustGrant("AWS", "arn:aws:iam::2:root", "sts:AssumeRole", "")
    assert g.trust_flags(frozenset({new}), frozenset({old})) == {
        "trust-widened",
        "condition-removed",
        "mfa-dropped",
    }
    assert g.trust_flags(frozenset(), frozenset({old})) == set()


def test_single_values_and_lists_compare_equal() -> None:
    one = permission_grants([{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}])
    many = permission_grants(
        [{"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}]}]
    )
    assert one == many


def test_resolve_intrinsics() -> None:
    params = {"Bucket": "logs"}
    assert (
        resolve({"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/*"}, params)
        == "arn:${AWS::Partition}:s3:::logs/*"
    )
    assert resolve({"Ref": "Bucket"}, params) == "logs"
    assert resolve({"Fn::Sub": ["${X}-${Bucket}", {"X": "a"}]}, params) == "a-logs"


def test_security_only_keeps_broadening_changes() -> None:
    assert _report("actions_narrowed").security_only().empty
    assert len(_report("trust_widened").security_only().ous) == 3


def test_markdown_stays_under_the_limit_with_a_note() -> None:
    report = diff_orgs(None, load_org(Path("org_roles")), "empty", "sample")
    full = format_markdown(report)
    assert len(full) < 65_536
    cut = format_markdown(report, limit=3000)
    assert len(cut) <= 3000 and "_Truncated:" in cut


def test_markdown_over_the_limit_keeps_the_details_and_cuts_the_table() -> None:
    """One change at hundreds of OUs: what changed survives, the rows listing where are cut."""
    change = RoleChange(
        "Developer", "changed", "broadened", ("wildcard",), permissions_added=(Grant("Allow", "s3:*", "*"),)
    )
    report = Report(
        "deployed", "desired", tuple(OuChange(f"Root/Unit{i:03d}", (change,)) for i in range(300))
    )
    cut = format_markdown(report, limit=8000, accounts={f"Root/Unit{i:03d}": 10 for i in range(300)})
    assert len(cut) <= 8000
    assert "```diff\n+ Allow s3:* on *\n```" in cut and "more detail section" not in cut
    rows = [line for line in cut.splitlines() if line.startswith("| `Root/Unit")]
    assert rows[0] == "| `Root/Unit000` | 10 | Developer | changed | **broadened** | wildcard |"
    assert f"_Truncated: {300 - len(rows)} more row(s) of the table exceed" in cut


def test_colour_only_when_asked() -> None:
    report = _report("trust_widened")
    assert "\033[31m" in format_text(report, color=True)
    assert "\033[" not in format_text(report, color=False)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def sample_repo(tmp_path: Path, root: Path) -> Path:
    """A git repository holding a copy of the sample org_roles/, committed once."""
    shutil.copytree(root / "org_roles", tmp_path / "org_roles")
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "sample")
    return tmp_path


def _commit(repo: Path, message: str) -> None:
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", message)


def test_s3_star_on_a_role_attached_at_workloads(
    sample_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    role = sample_repo / "org_roles" / "roles" / "Developer.yaml"
    role.write_text(
        role.read_text().replace(
            "statements:\n", "statements:\n  - actions: ['s3:*']\n    resources: ['*']\n", 1
        )
    )
    _commit(sample_repo, "developers get s3:*")
    code = main(
        [
            "--root",
            str(sample_repo),
            "diff",
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
            "--format",
            "markdown",
            "--exit-code",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert [row.split("|")[1].strip() for row in rows] == [
        "`Root/Sandbox`",
        "`Root/Workloads`",
        "`Root/Workloads/Dev`",
        "`Root/Workloads/Prod`",
        "`Root/Workloads/Prod/Payments`",
        "`Root/Workloads/Staging`",
    ]
    assert all("| Developer | changed | **broadened** | wildcard |" in row for row in rows)
    assert "+ Allow s3:* on *" in out


def test_reordering_statements_and_actions_is_no_change(
    sample_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    role = sample_repo / "org_roles" / "roles" / "Developer.yaml"
    text = role.read_text()
    first = text.index("  - sid: ApplicationServices")
    second = text.index("  - sid: AppBuckets")
    third = text.index("  - sid: NoIamOrNetworkChanges")
    end = text.index("parameters:")
    reordered = text[:first] + text[third:end] + text[second:third] + text[first:second] + text[end:]
    reordered = reordered.replace(
        "[s3:GetObject, s3:PutObject, s3:DeleteObject]", "[s3:DeleteObject, s3:GetObject, s3:PutObject]"
    )
    assert reordered != text
    role.write_text(reordered)
    _commit(sample_repo, "reorder")
    assert main(["--root", str(sample_repo), "diff", "--base", "HEAD~1", "--exit-code"]) == 0
    assert "No changes." in capsys.readouterr().out


def test_unknown_revision_is_bad_input(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(sample_repo), "diff", "--base", "no-such-ref"]) == 2
    assert "'no-such-ref' is neither a folder nor a git revision" in capsys.readouterr().err


def test_revision_without_org_roles_counts_everything_added(
    sample_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _git(sample_repo, "checkout", "-q", "--orphan", "empty")
    _git(sample_repo, "rm", "-rqf", ".")
    (sample_repo / "README").write_text("x")
    _git(sample_repo, "add", "README")
    _commit(sample_repo, "empty")
    assert (
        main(["--root", str(sample_repo), "diff", "--base", "empty", "--head", "main", "--format", "json"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["added"] == 60 and data["summary"]["removed"] == 0
