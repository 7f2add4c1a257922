"""`python -m pipeline plan`'s IAM review: the diff of every role StackSet against what is deployed, per OU,
with the accounts each OU's changes reach, over HTTP against the fidelity layer.

The organization is tests/fixtures/sync's (see tests/e2e/sync/test_sync.py) plus Root/Workloads/Staging with
100000000090 and 100000000091; Developer targets Root/Sandbox and Root/Workloads (333333333333 excluded).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pipeline.cli import main
from pipeline.cli.review import parse_template
from pipeline.emulator.seed import OrgLayout, SeedAccount
from tests.support.paths import ROOT
from tests.support.sync import World, edit, write_variant

DEV = "org-roles-Developer"
RO = "org-roles-ReadOnly"
SCHEMA = json.loads((ROOT / "generator/schemas/diff.schema.json").read_text())
S3_ALL = """      Policies:
      - PolicyName: AllOfS3
        PolicyDocument:
          Version: '2012-10-17'
          Statement:
          - Effect: Allow
            Action: s3:*
            Resource: '*'
      Tags:
"""


def with_staging(org: OrgLayout) -> None:
    org.add_ou("Root/Workloads/Staging")
    org.accounts += [
        SeedAccount("100000000090", "staging-1", "Root/Workloads/Staging"),
        SeedAccount("100000000091", "staging-2", "Root/Workloads/Staging"),
    ]


def synced(make_world: Any) -> World:
    world: World = make_world(layout=with_staging)
    assert world.sync("first").outcome == "success"
    return world


def variant(
    tmp: Path, *, s3_all: bool = False, change: Callable[[dict[str, Any]], None] | None = None
) -> Path:
    """The fixture, Developer granted s3:* on * if asked, the manifest changed by `change`."""

    def apply(data: dict[str, Any]) -> None:
        if s3_all:
            role = tmp / "templates/org/roles/Developer.yaml"
            role.write_text(role.read_text().replace("      Tags:\n", S3_ALL))
        if change is not None:
            change(data)

    return write_variant(tmp, apply)


def without_sandbox(data: dict[str, Any]) -> None:
    spec = edit(data, DEV)
    spec["targets"] = [t for t in spec["targets"] if t["ou_path"] != "Root/Sandbox"]


def plan(world: World, manifest_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    args = ["plan", "--manifest", str(manifest_dir / "manifest.json"), "--templates"]
    args += [str(manifest_dir / "templates"), "--endpoint-url", world.server.url, "--quiet", *extra]
    assert main(args) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def iam_table(markdown: str) -> list[str]:
    """The rows of the Markdown IAM table (after its header)."""
    lines = markdown.splitlines()
    start = lines.index("| OU | Accounts | Role | Change | Grade | Flags |") + 2
    return lines[start : lines.index("", start)]


def test_role_broadened_at_its_ous_with_account_counts(
    make_world: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = synced(make_world)
    out = plan(world, variant(tmp_path / "v2", s3_all=True), capsys, "--format", "markdown")
    lines = out.splitlines()
    assert lines[:3] == [
        "### plan: 3 unchanged, 1 update; IAM: 5 role change(s) in 5 OU(s), 5 broadened (5 wildcard); "
        "10 account(s) affected",
        "",
        "**Broadens access:** Developer (wildcard) at 5 OU(s), 10 account(s).",
    ]
    assert iam_table(out) == [
        "| `Root/Sandbox` | 2 | Developer | changed | **broadened** | wildcard |",
        "| `Root/Workloads` | 2 | Developer | changed | **broadened** | wildcard |",
        "| `Root/Workloads/Dev` | 2 | Developer | changed | **broadened** | wildcard |",
        "| `Root/Workloads/Prod` | 2 | Developer | changed | **broadened** | wildcard |",
        "| `Root/Workloads/Staging` | 2 | Developer | changed | **broadened** | wildcard |",
    ]
    assert "```diff\n+ Allow s3:* on *\n```" in out
    assert "Accounts affected per OU" not in out


def test_unchanged_org_has_no_iam_changes(make_world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world = synced(make_world)
    out = plan(world, world.manifest_dir, capsys, "--format", "markdown")
    assert out.splitlines()[:3] == ["### plan: 4 unchanged; IAM: no changes", "", "No IAM changes."]
    assert "**No changes.**" in out
    data = json.loads(plan(world, world.manifest_dir, capsys, "--format", "json"))
    assert (data["iam_diff"]["ous"], data["accounts_affected"]) == ([], {"total": 0, "ous": []})
    # One DescribeStackSet per StackSet, as before the review: Developer's Prod override (1800) is known
    # to be applied from its recorded hash, not from DescribeStackInstance (the plan's own check that the
    # rollout which wrote that hash succeeded is one DescribeStackSetOperation per StackSet, and its health
    # one ListStackInstances per broken status per role StackSet).
    stacks = {k: v for k, v in data["calls"]["by_operation"].items() if "Stack" in k}
    assert (stacks, data["calls"]["writes"]) == (
        # ListStackInstances: Developer's excluded account sits under its target (did AutoDeployment reach it?)
        {
            "DescribeStackSet": 3,
            "DescribeStacks": 1,
            "DescribeStackSetOperation": 3,
            "ListStackInstances": 8,
            "ListStackSets": 1,
        },
        0,
    )


def test_role_removed_from_an_ou(make_world: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = synced(make_world)
    out = plan(world, variant(tmp_path / "v2", change=without_sandbox), capsys, "--format", "markdown")
    assert iam_table(out) == ["| `Root/Sandbox` | 2 | Developer | removed | narrowed | removed |"]
    assert "> note: roles removed from OUs are deleted from their accounts (revocation" in out
    assert "keep their stacks" not in out


def test_role_removed_from_an_ou_when_the_org_retains_stacks(
    make_world: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = synced(make_world)

    def retaining(data: dict[str, Any]) -> None:
        without_sandbox(data)
        data["org"]["deletion"]["retain_stacks"] = True

    out = plan(world, variant(tmp_path / "v2", change=retaining), capsys, "--format", "markdown")
    assert (
        "> note: roles removed from OUs keep their stacks (deletion.retain_stacks: true in org.yaml, an opt-in)"
        in out
    )
    assert "fails with EntityAlreadyExists until the retained stack is deleted" in out


def test_json_follows_the_diff_schema_and_lists_accounts_on_request(
    make_world: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = synced(make_world)
    v2 = variant(tmp_path / "v2", s3_all=True, change=without_sandbox)
    data = json.loads(plan(world, v2, capsys, "--format", "json", "--show-accounts"))
    jsonschema.validate(data["iam_diff"], SCHEMA)
    assert data["counts"] == {"update": 1, "unchanged": 3}
    assert [
        (o["ou"], [(r["role"], r["kind"], r["grade"]) for r in o["roles"]]) for o in data["iam_diff"]["ous"]
    ] == [
        ("Root/Sandbox", [("Developer", "removed", "narrowed")]),
        ("Root/Workloads", [("Developer", "changed", "broadened")]),
        ("Root/Workloads/Dev", [("Developer", "changed", "broadened")]),
        ("Root/Workloads/Prod", [("Developer", "changed", "broadened")]),
        ("Root/Workloads/Staging", [("Developer", "changed", "broadened")]),
    ]
    reached = [
        ("Root/Sandbox", ["100000000000", "100000000001"]),
        ("Root/Workloads", ["100000000004", "100000000005"]),  # 333333333333 is excluded from Developer
        ("Root/Workloads/Dev", ["100000000006", "100000000007"]),
        ("Root/Workloads/Prod", ["100000000008", "100000000009"]),
        ("Root/Workloads/Staging", ["100000000090", "100000000091"]),
    ]
    assert data["accounts_affected"] == {
        "total": 10,
        "ous": [{"ou": ou, "roles": ["Developer"], "accounts": 2, "account_ids": ids} for ou, ids in reached],
    }
    counts_only = json.loads(plan(world, v2, capsys, "--format", "json"))
    assert {o["account_ids"] for o in counts_only["accounts_affected"]["ous"]} == {None}


def test_per_ou_values_follow_the_recorded_override_hash(
    make_world: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = synced(make_world)

    def readonly_override(data: dict[str, Any]) -> None:
        edit(data, RO)["parameter_overrides"] = [
            {"ou_path": "Root/Workloads/Dev", "ou_id": None, "parameters": {"MaxSessionDuration": "7200"}}
        ]

    # ReadOnly records that no per-OU values are applied: Dev compares 3600 (the StackSet's) with 7200.
    data = json.loads(
        plan(world, variant(tmp_path / "v2", change=readonly_override), capsys, "--format", "json")
    )
    [dev] = data["iam_diff"]["ous"]
    [change] = dev["roles"]
    assert (dev["ou"], change["role"], change["grade"], change["max_session_duration"]) == (
        "Root/Workloads/Dev",
        "ReadOnly",
        "broadened",
        {"from": 3600, "to": 7200},
    )
    # An account moves from Prod to Dev: Developer's recorded per-OU values no longer match the manifest's,
    # but nothing about any OU's IAM changes; the note says what is taken as applied.
    world.move("100000000008", "Root/Workloads/Dev")
    data = json.loads(plan(world, world.manifest_dir, capsys, "--format", "json"))
    assert data["counts"] == {"update": 1, "unchanged": 3}
    assert data["iam_diff"]["ous"] == []
    assert (
        "org-roles-Developer: the per-OU values recorded as applied are not the manifest's (accounts moved or "
        "joined, or the values changed); this plan re-applies them at Root/Workloads/Prod, and the IAM diff "
        "takes them as applied there (`python -m generator diff` shows changes to them)"
    ) in data["iam_notes"]


def test_security_only_keeps_the_broadening_changes(
    make_world: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = synced(make_world)
    v2 = variant(tmp_path / "v2", s3_all=True, change=without_sandbox)
    out = plan(world, v2, capsys, "--format", "markdown", "--security-only", "--show-accounts")
    assert [row.split(" | ")[0] for row in iam_table(out)] == [
        "| `Root/Workloads`",
        "| `Root/Workloads/Dev`",
        "| `Root/Workloads/Prod`",
        "| `Root/Workloads/Staging`",
    ]
    assert "- Root/Workloads/Staging: 100000000090, 100000000091\n" in out
    assert "Root/Sandbox: 1000" not in out
    data = json.loads(plan(world, v2, capsys, "--format", "json", "--security-only"))
    assert data["iam_diff"]["summary"]["broadened"] == data["iam_diff"]["summary"]["changed"] == 4


def test_text_lists_accounts_and_keeps_the_call_counts_last(
    make_world: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = synced(make_world)
    out = plan(world, variant(tmp_path / "v2", s3_all=True), capsys, "--show-accounts")
    assert out.startswith("plan: 3 unchanged, 1 update\n")
    assert "\nRoot/Workloads/Staging (2 account(s))\n  Developer: changed, broadened; wildcard\n" in out
    assert "\n  Root/Workloads/Staging: 100000000090, 100000000091\n" in out
    assert "\033[" not in out  # no colour off a terminal
    assert out.splitlines()[-1].startswith("API calls: ")


def test_created_and_deleted_stacksets_add_and_remove_every_role(
    make_world: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world: World = make_world(layout=with_staging)
    data = json.loads(plan(world, world.manifest_dir, capsys, "--format", "json"))
    kinds = {(o["ou"], r["role"]): r["kind"] for o in data["iam_diff"]["ous"] for r in o["roles"]}
    assert set(kinds.values()) == {"added"}
    assert kinds[("Root", "ReadOnly")] == kinds[("Root/Workloads/Staging", "Developer")] == "added"
    world.sync("first")

    def drop(data: dict[str, Any]) -> None:
        data["stacksets"] = [s for s in data["stacksets"] if s["name"] != RO]
        data["org"]["deletion"].update(
            delete_orphaned_stacksets=True, max_instance_deletions=100, max_instance_deletion_percentage=100
        )

    data = json.loads(plan(world, write_variant(tmp_path / "v2", drop), capsys, "--format", "json"))
    removed = [(o["ou"], [(r["role"], r["kind"]) for r in o["roles"]]) for o in data["iam_diff"]["ous"]]
    assert removed == [
        (ou, [("ReadOnly", "removed")])
        for ou in (
            "Root",
            "Root/Sandbox",
            "Root/Security",
            "Root/Workloads",
            "Root/Workloads/Dev",
            "Root/Workloads/Prod",
            "Root/Workloads/Staging",
        )
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '{"Resources": {"R": {"Type": "AWS::IAM::Role"}}}',
            {"Resources": {"R": {"Type": "AWS::IAM::Role"}}},
        ),
        ("A: !Ref Name", {"A": {"Ref": "Name"}}),
        ("A: !Sub 'arn:${AWS::Partition}:x'", {"A": {"Fn::Sub": "arn:${AWS::Partition}:x"}}),
        ("A: !Sub ['${X}', {X: !Ref Y}]", {"A": {"Fn::Sub": ["${X}", {"X": {"Ref": "Y"}}]}}),
        ("A: !GetAtt Role.Arn", {"A": {"Fn::GetAtt": ["Role", "Arn"]}}),
        ("A: !If [C, 1, !Ref AWS::NoValue]", {"A": {"Fn::If": ["C", 1, {"Ref": "AWS::NoValue"}]}}),
        ("- not a template", {}),
    ],
)
def test_deployed_templates_are_read_in_long_form(body: str, expected: dict[str, Any]) -> None:
    assert parse_template(body) == expected


def test_unreadable_template_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="neither JSON nor YAML"):
        parse_template("A: [unclosed")


def test_the_lambda_modules_never_load_generator_or_yaml() -> None:
    modules = [
        "handler",
        "job",
        "sync",
        "core.planner",
        "aws.executor",
        "aws.stacksets",
        "core.report",
        "aws.notify",
        "cli.review",
    ]
    code = (
        "import sys\n"
        + "".join(f"import pipeline.{m}\n" for m in modules)
        + "print(sorted({m.split('.')[0] for m in sys.modules} & {'generator', 'yaml', 'troposphere', 'awacs'}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout == "[]\n"


def test_login_account_assume_role_policies_are_diffed_at_the_login_accounts_ou(
    make_world: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Which roles people may assume from the login account (its StackSet's managed policies), per account
    target: the login account 222222222222 in Root/Security."""
    world = synced(make_world)
    v2 = tmp_path / "v2"

    def assume_any_role(data: dict[str, Any]) -> None:
        login = v2 / "templates/org/login-account.yaml"
        login.write_text(login.read_text().replace(":role/people/Developer", ":role/*"))

    out = plan(world, write_variant(v2, assume_any_role), capsys, "--format", "markdown", "--show-accounts")
    assert iam_table(out) == [
        "| `Root/Security` | 1 | policy assume-Developer | changed | **broadened** |  |"
    ]
    assert (
        "```diff\n"
        "+ Allow sts:AssumeRole on arn:${AWS::Partition}:iam::*:role/*\n"
        "- Allow sts:AssumeRole on arn:${AWS::Partition}:iam::*:role/people/Developer\n"
        "```"
    ) in out
    assert "- Root/Security: 222222222222\n" in out
