"""Issue 13 item 4: the management-account stack deploys through a CloudFormation service role that may
manage exactly that stack's roles with exactly what CloudFormation's AWS::IAM::Role handlers call, and only
the sync may pass it, only to CloudFormation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from generator.blueprints import org_roles
from generator.blueprints.base import RenderContext
from generator.render import render_all
from tests.support.paths import ROOT


def _render(root: Path, org_dir: Path | None = None) -> dict[str, Any]:
    ctx = RenderContext(root=root, org_dir=org_dir) if org_dir else RenderContext(root=root)
    return render_all(ctx, [org_roles.BLUEPRINT])


def _yaml(rendered: dict[str, Any], path: str) -> dict[str, Any]:
    return yaml.safe_load(rendered[path])


def _deployer_statements(rendered: dict[str, Any]) -> list[dict[str, Any]]:
    role = _yaml(rendered, org_roles.DEPLOYER_TEMPLATE)["Resources"]["DeployerRole"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _management_role_arns(rendered: dict[str, Any]) -> list[dict[str, str]]:
    resources = _yaml(rendered, org_roles.MANAGEMENT_TEMPLATE)["Resources"]
    return sorted(
        (
            {
                "Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{r['Properties']['Path']}"
                f"{r['Properties']['RoleName']}"
            }
            for r in resources.values()
            if r["Type"] == "AWS::IAM::Role"
        ),
        key=json.dumps,
    )


def role_handler_permissions() -> set[str]:
    """What CloudFormation calls to create, read, update and delete an AWS::IAM::Role: the resource type
    schema's handlers (https://docs.aws.amazon.com/cloudformation-cli/latest/userguide/resource-type-schema.html),
    as cfn-lint ships it; `list` is left out, no stack operation calls it."""
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", "AWS::IAM::Role").schema
    return {a for h in ("create", "read", "update", "delete") for a in schema["handlers"][h]["permissions"]}


@pytest.fixture(scope="module")
def sample(root: Path) -> dict[str, Any]:
    return _render(root)


def test_deployer_covers_exactly_the_management_roles(sample: dict[str, Any]) -> None:
    statements = _deployer_statements(sample)
    for s in statements:
        assert sorted(s["Resource"], key=json.dumps) == _management_role_arns(sample), s["Sid"]
    assert len(_management_role_arns(sample)) == 2  # BillingViewer and BreakGlass in the sample


def test_deployer_grants_exactly_what_the_role_handlers_call(sample: dict[str, Any]) -> None:
    """Least privilege for the service role: every action a handler needs, nothing else. The sample's
    management roles have no managed policy and no boundary, so attaching and setting boundaries are not
    granted at all."""
    granted = {a for s in _deployer_statements(sample) for a in s["Action"]}
    assert granted == role_handler_permissions() - {"iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"}
    trust = _yaml(sample, org_roles.DEPLOYER_TEMPLATE)["Resources"]["DeployerRole"]["Properties"][
        "AssumeRolePolicyDocument"
    ]["Statement"]
    assert [(s["Principal"], s["Action"]) for s in trust] == [
        ({"Service": ["cloudformation.amazonaws.com"]}, ["sts:AssumeRole"])
    ]


def test_attaching_is_limited_to_the_templates_managed_policies(root: Path, tmp_path: Path) -> None:
    org_dir = tmp_path / "org_roles"
    shutil.copytree(root / "org_roles", org_dir)
    ou = org_dir / "Root" / "Infrastructure" / "ou.yaml"
    text = ou.read_text()
    assert "  - role: NetworkAdmin\n" in text
    ou.write_text(
        text.replace(
            "  - role: NetworkAdmin\n", "  - role: NetworkAdmin\n    include_management_account: true\n"
        )
    )
    rendered = _render(root, org_dir)
    statements = {s["Sid"]: s for s in _deployer_statements(rendered)}
    attach = statements["AttachOnlyTheirManagedPolicies"]
    assert attach["Action"] == ["iam:AttachRolePolicy"]
    assert attach["Condition"] == {
        "ArnEquals": {
            "iam:PolicyARN": [
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
                "arn:aws:iam::aws:policy/job-function/NetworkAdministrator",
            ]
        }
    }
    granted = {a for s in statements.values() for a in s["Action"]}
    assert granted == role_handler_permissions() - {"iam:PutRolePermissionsBoundary"}
    assert len(_management_role_arns(rendered)) == 3


def test_manifest_names_the_deployer_and_only_the_sync_may_pass_it(sample: dict[str, Any]) -> None:
    manifest = json.loads(sample[org_roles.MANIFEST])
    assert manifest["management_account_stack"]["service_role_arn"] == (
        "arn:aws:iam::111111111111:role/org-roles-management-deployer"
    )
    role = _yaml(sample, org_roles.DEPLOYER_TEMPLATE)["Resources"]["DeployerRole"]["Properties"]
    assert role["RoleName"] == "org-roles-management-deployer"
    pipeline = yaml.safe_load((ROOT / "templates" / "org" / "pipeline.yaml").read_text())
    passing = [
        (name, s)
        for name, r in pipeline["Resources"].items()
        if r["Type"] == "AWS::IAM::Role"
        for p in r["Properties"].get("Policies", [])
        for s in p["PolicyDocument"]["Statement"]
        if "iam:PassRole" in s["Action"]
        and any("management-deployer" in json.dumps(x) for x in s["Resource"])
    ]
    assert [name for name, _ in passing] == ["SyncRole"]
    statement = passing[0][1]
    assert statement["Action"] == ["iam:PassRole"]
    assert statement["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${StackSetPrefix}-management-deployer"}
    ]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
