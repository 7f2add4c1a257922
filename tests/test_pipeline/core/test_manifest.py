"""The manifest loader: the generator's real manifest and the fixture load; bad input names file and key."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli.files import load_manifest, load_templates
from pipeline.common.errors import Problem
from pipeline.core.errors import ManifestError
from pipeline.core.manifest import loads_manifest, parse_manifest
from tests.support.paths import GOLDEN, ROOT
from tests.support.sync import FIXTURE

BASE = json.loads((FIXTURE / "manifest.json").read_text())


def test_fixture_loads_with_typed_values() -> None:
    m = load_manifest(FIXTURE / "manifest.json")
    assert [s.name for s in m.stacksets] == [
        "org-roles-Developer",
        "org-roles-ReadOnly",
        "org-roles-login-account",
    ]
    dev = m.stackset("org-roles-Developer")
    assert [(t.ou_path, t.excluded_accounts) for t in dev.targets] == [
        ("Root/Sandbox", ()),
        ("Root/Workloads", ("333333333333",)),
    ]
    assert [(o.ou_path, dict(o.parameters)) for o in dev.parameter_overrides] == [
        ("Root/Workloads/Prod", {"MaxSessionDuration": "1800"})
    ]
    assert m.org.deletion.max_instance_deletion_percentage == 50
    assert [(e.path, e.ou_id) for e in m.ous][-1] == ("Root/Workloads/Prod", "ou-ab12-cd34ef56")
    assert len(load_templates(m, FIXTURE / "templates")) == 4


def test_the_generators_manifest_loads() -> None:
    m = load_manifest(ROOT / "templates" / "org" / "manifest.json")
    assert m.org.service_managed and m.management_account_stack is not None
    assert {s.kind for s in m.stacksets} == {"role", "login-account"}
    assert len(load_templates(m, ROOT / "templates")) == len(m.stacksets) + 1


@pytest.mark.parametrize("golden", ["minimal", "selfmanaged"])
def test_the_golden_manifests_load(golden: str) -> None:
    """What the generator renders for its fixtures is a manifest the sync accepts."""
    m = load_manifest(GOLDEN / golden / "org" / "manifest.json")
    assert m.org.call_as == "SELF"


def _change(fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    fn(data)
    return data


def _dev(data: dict[str, Any]) -> dict[str, Any]:
    return data["stacksets"][0]


CASES: list[tuple[str, Callable[[dict[str, Any]], None], list[tuple[str, str]]]] = [
    (
        "version",
        lambda d: d.update(manifest_version=2),
        [("manifest_version", "this sync reads version 1, got 2")],
    ),
    (
        "account id",
        lambda d: d["org"].update(login_account_id="2222"),
        [("org.login_account_id", "'2222' is not a 12-digit account id")],
    ),
    (
        "permission model",
        lambda d: d["org"].update(permission_model="OTHER"),
        [("org.permission_model", "must be one of SERVICE_MANAGED, SELF_MANAGED, got 'OTHER'")],
    ),
    (
        "self-managed without roles",
        lambda d: d["org"].update(permission_model="SELF_MANAGED"),
        [
            (
                "org",
                "SELF_MANAGED needs administration_role_arn and execution_role_name (the StackSet roles "
                "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-prereqs-self-managed.html)",
            )
        ],
    ),
    (
        "self-managed as delegated admin",
        lambda d: d["org"].update(
            permission_model="SELF_MANAGED",
            call_as="DELEGATED_ADMIN",
            administration_role_arn="arn:aws:iam::111111111111:role/AWSCloudFormationStackSetAdministrationRole",
            execution_role_name="AWSCloudFormationStackSetExecutionRole",
        ),
        [
            (
                "org.call_as",
                "DELEGATED_ADMIN is valid only with permission_model SERVICE_MANAGED, got SELF_MANAGED "
                "(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html, "
                "CallAs); use SELF",
            )
        ],
    ),
    (
        "numeric parameter",
        lambda d: _dev(d)["parameters"].update(MaxSessionDuration=3600),
        [("stacksets[0].parameters.MaxSessionDuration", "must be a string, got int")],
    ),
    (
        "unknown target OU",
        lambda d: _dev(d)["targets"][0].update(ou_path="Root/Nowhere"),
        [("stacksets[0].targets[0].ou_path", "'Root/Nowhere' is not one of the manifest's ous")],
    ),
    (
        "nested targets",
        lambda d: _dev(d)["targets"].append(
            {"ou_path": "Root/Workloads/Dev", "ou_id": None, "excluded_accounts": [], "source": "x"}
        ),
        [
            (
                "stacksets[0].targets",
                "'Root/Workloads/Dev' is below 'Root/Workloads', which the StackSet already targets",
            )
        ],
    ),
    (
        "override outside targets",
        lambda d: _dev(d)["parameter_overrides"][0].update(ou_path="Root/Security"),
        [
            (
                "stacksets[0].parameter_overrides[0].ou_path",
                "'Root/Security' is not at or below any target of the StackSet",
            )
        ],
    ),
    (
        "override of an unknown parameter",
        lambda d: _dev(d)["parameter_overrides"][0]["parameters"].update(Other="x"),
        [
            (
                "stacksets[0].parameter_overrides[0].parameters.Other",
                "overrides a parameter the StackSet does not pass",
            )
        ],
    ),
    (
        "reserved tag",
        lambda d: _dev(d)["tags"].update(OrgStackSetsHash="x"),
        [("stacksets[0].tags.OrgStackSetsHash", "OrgStackSetsHash is reserved for the sync's content hash")],
    ),
    (
        "prefix",
        lambda d: _dev(d).update(name="other-Developer"),
        [("stacksets[0].name", "'other-Developer' does not start with the prefix 'org-roles-'")],
    ),
    (
        "bad pinned id",
        lambda d: d["ous"][1].update(ou_id="ou-nope"),
        [("ous[1].ou_id", "'ou-nope' is not an OU id (ou-xxxx-xxxxxxxx) or root id (r-xxxx)")],
    ),
    (
        "long value quoted as an excerpt",
        lambda d: _dev(d).update(name="org-roles-" + "x" * 5000),
        [("stacksets[0].name", "'org-roles-" + "x" * 30 + "'... is not a valid StackSet name")],
    ),
    (
        "long unknown key quoted as an excerpt",
        lambda d: d["org"].update({"k" * 5000: 1}),
        [("org." + "k" * 40 + "...", "is not a key of the manifest (version 1)")],
    ),
    (
        "two problems at once",
        lambda d: (d["org"].update(home_region=""), _dev(d).update(regions=[])),
        [
            ("org.home_region", "must be a non-empty string"),
            ("stacksets[0].regions", "must name at least one region"),
        ],
    ),
    (
        "a second region for an IAM StackSet",
        lambda d: _dev(d).update(regions=["us-east-1", "eu-west-1"]),
        [
            (
                "stacksets[0].regions",
                "IAM is global: must be the home region [us-east-1] only, got ['us-east-1', 'eu-west-1']",
            )
        ],
    ),
    (
        "no region",
        lambda d: _dev(d).update(regions=[]),
        [("stacksets[0].regions", "must name at least one region")],
    ),
    (
        "empty description",
        lambda d: _dev(d).update(description=""),
        [("stacksets[0].description", "must be 1 to 1024 characters")],
    ),
    (
        "description over 1,024 characters",
        lambda d: _dev(d).update(description="d" * 1025),
        [("stacksets[0].description", "must be 1 to 1024 characters")],
    ),
    (
        "empty tag value",
        lambda d: _dev(d)["tags"].update(CostCenter=""),
        [("stacksets[0].tags.CostCenter", "tag values are 1 to 256 characters")],
    ),
    (
        "tag value over 256 characters",
        lambda d: d["org"]["tags"].update(Team="t" * 257),
        [("org.tags.Team", "tag values are 1 to 256 characters")],
    ),
]


@pytest.mark.parametrize(("name", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_manifests_name_every_problem(
    name: str, change: Callable[[dict[str, Any]], None], expected: list[tuple[str, str]]
) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(_change(change), "m.json")
    assert caught.value.problems == sorted(Problem("m.json", k, msg) for k, msg in expected)


HOSTILE = {
    "not JSON": (
        b"{",
        "is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    ),
    "nested too deeply": (b"[" * 100_000, "is not valid JSON: nested too deeply"),
    "over 8 MiB": (b" " * (8 * 2**20 + 1), "is larger than 8 MiB, the limit"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_manifest_bytes_are_refused_with_one_problem(case: str) -> None:
    raw, message = HOSTILE[case]
    with pytest.raises(ManifestError) as caught:
        loads_manifest(raw, "m.json")
    assert caught.value.problems == [Problem("m.json", "", message)]


def test_missing_file_says_render_first(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"run `python -m generator render` first"):
        load_manifest(tmp_path / "manifest.json")


def test_stale_template_is_refused(tmp_path: Path) -> None:
    m = load_manifest(FIXTURE / "manifest.json")
    (tmp_path / "org" / "roles").mkdir(parents=True)
    for rel in (
        "org/roles/Developer.yaml",
        "org/roles/ReadOnly.yaml",
        "org/login-account.yaml",
        "org/management-account.yaml",
    ):
        (tmp_path / rel).write_bytes((FIXTURE / "templates" / rel).read_bytes())
    (tmp_path / "org/roles/ReadOnly.yaml").write_text("changed")
    with pytest.raises(ManifestError) as caught:
        load_templates(m, tmp_path)
    [problem] = caught.value.problems
    assert problem.key == "org/roles/ReadOnly.yaml"
    assert "differs from the manifest's" in problem.message


@pytest.mark.parametrize(
    ("waves", "problems"),
    [
        ([["Root/Sandbox"], ["Root/Workloads/Dev"]], []),
        ([["Root/Sandbox"], []], ["org.rollout_waves: must be a list of non-empty lists of OU paths"]),
        ("Root/Sandbox", ["org.rollout_waves: must be a list of non-empty lists of OU paths"]),
        ([["Root/Sandbox"], ["Root/Sandbox"]], ["org.rollout_waves: OU path 'Root/Sandbox' is in two waves"]),
    ],
)
def test_rollout_waves_are_read_and_checked(waves: Any, problems: list[str]) -> None:
    data = json.loads((FIXTURE / "manifest.json").read_text())
    data["org"]["rollout_waves"] = waves
    if not problems:
        assert parse_manifest(data).org.rollout_waves == (("Root/Sandbox",), ("Root/Workloads/Dev",))
        return
    with pytest.raises(ManifestError) as raised:
        parse_manifest(data)
    assert [f"{p.key}: {p.message}" for p in raised.value.problems] == problems


def test_a_manifest_without_waves_has_no_rollout_key() -> None:
    from pipeline.core.manifest import to_document

    manifest = parse_manifest(json.loads((FIXTURE / "manifest.json").read_text()))
    assert "rollout_waves" not in to_document(manifest)["org"]
