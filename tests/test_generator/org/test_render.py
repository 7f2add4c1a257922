"""Rendering org_roles/: golden fixture trees, the manifest contract, templates, and explain."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from generator.blueprints import org_roles
from generator.blueprints.base import RenderContext
from generator.cli import main
from generator.render import check, render_all
from tests.support.paths import GOLDEN


@pytest.mark.parametrize("name", ["minimal", "selfmanaged"])
def test_fixture_org_matches_golden(name: str, root: Path) -> None:
    """Update with: python -m tests.update_goldens (which renders --org tests/fixtures/orgs/NAME --only org-roles)."""
    ctx = RenderContext(root=root, org_dir=Path("tests/fixtures/orgs") / name)
    rendered = render_all(ctx, [org_roles.BLUEPRINT])
    result = check(GOLDEN / name, rendered)
    assert result.clean, result


@pytest.fixture(scope="module")
def rendered(root: Path) -> dict[str, bytes]:
    """The sample org_roles/ rendered by the org blueprint alone."""
    return render_all(RenderContext(root=root), [org_roles.BLUEPRINT])


@pytest.fixture(scope="module")
def manifest(rendered: dict[str, bytes]) -> dict:
    return json.loads(rendered["org/manifest.json"])


def _stackset(manifest: dict, role: str) -> dict:
    return next(s for s in manifest["stacksets"] if s["role"] == role)


def test_manifest_template_hashes_match_the_rendered_bytes(
    manifest: dict, rendered: dict[str, bytes]
) -> None:
    entries = [*manifest["stacksets"], manifest["management_account_stack"]]
    for entry in entries:
        assert entry["template_sha256"] == hashlib.sha256(rendered[entry["template"]]).hexdigest()


def test_manifest_lists_every_role_and_the_login_stackset(manifest: dict) -> None:
    assert [s["name"] for s in manifest["stacksets"]] == [
        "org-roles-Auditor",
        "org-roles-BillingViewer",
        "org-roles-BreakGlass",
        "org-roles-Deployer",
        "org-roles-Developer",
        "org-roles-NetworkAdmin",
        "org-roles-ReadOnly",
        "org-roles-login-account",
    ]
    login = manifest["stacksets"][-1]
    assert (login["kind"], login["account_targets"], login["targets"]) == (
        "login-account",
        ["222222222222"],
        [],
    )


def test_developer_targets_and_per_ou_values(manifest: dict) -> None:
    dev = _stackset(manifest, "Developer")
    assert [t["ou_path"] for t in dev["targets"]] == ["Root/Sandbox", "Root/Workloads"]
    assert dev["parameters"] == {
        "AllowedRegion": "us-east-1",
        "AppBucketPrefix": "app",
        "AppPrefix": "app",
        "LoginAccountId": "222222222222",
        # The StackSet-level value is all AutoDeployment gives an account between joining and the next
        # sync: the shortest session of every OU (Prod's hour), never the role's 8-hour default.
        "MaxSessionDuration": "3600",
        "Project": "org-roles",
    }
    assert [(o["ou_path"], o["parameters"]) for o in dev["parameter_overrides"]] == [
        ("Root/Sandbox", {"AppBucketPrefix": "sandbox", "MaxSessionDuration": "43200"}),
        # The role's default where it is attached, as an override; Prod keeps its (equal) value, since
        # Workloads' entry sets the key above it.
        ("Root/Workloads", {"MaxSessionDuration": "28800"}),
        ("Root/Workloads/Dev", {"MaxSessionDuration": "43200"}),
        ("Root/Workloads/Prod", {"MaxSessionDuration": "3600"}),
        (
            "Root/Workloads/Prod/Payments",
            {"AllowedRegion": "eu-central-1", "AppBucketPrefix": "payments", "MaxSessionDuration": "3600"},
        ),
    ]
    assert dev["regions"] == ["us-east-1"] and dev["capabilities"] == ["CAPABILITY_NAMED_IAM"]


def test_management_account_stack(manifest: dict) -> None:
    stack = manifest["management_account_stack"]
    assert stack["roles"] == ["BillingViewer", "BreakGlass"]
    assert stack["parameters"] == {
        "BillingViewerMaxSessionDuration": "14400",
        "BreakGlassMaxSessionDuration": "3600",
        "LoginAccountId": "222222222222",
        "Project": "org-roles",
    }


def test_org_settings_in_the_manifest(manifest: dict) -> None:
    org = manifest["org"]
    assert org["permission_model"] == "SERVICE_MANAGED"
    assert org["operation_preferences"] == {
        "ConcurrencyMode": "STRICT_FAILURE_TOLERANCE",
        "FailureTolerancePercentage": 10,
        "MaxConcurrentPercentage": 100,
        "RegionConcurrencyType": "PARALLEL",
    }
    assert org["deletion"]["retain_stacks"] is False  # revocation, the default
    assert [o["path"] for o in manifest["ous"]][:3] == [
        "Root",
        "Root/Infrastructure",
        "Root/Infrastructure/Network",
    ]


def _template(rendered: dict[str, bytes], path: str) -> dict:
    return yaml.safe_load(rendered[path])


def test_human_role_trust_requires_mfa_from_the_login_account(rendered: dict[str, bytes]) -> None:
    role = _template(rendered, "org/roles/Developer.yaml")["Resources"]["Role"]["Properties"]
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {
        "AWS": [{"Fn::Sub": "arn:${AWS::Partition}:iam::${LoginAccountId}:root"}]
    }
    assert statement["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert role["RoleName"] == "Developer" and role["Path"] == "/people/"


def test_break_glass_is_marked_and_mfa_is_fresh(rendered: dict[str, bytes]) -> None:
    resource = _template(rendered, "org/roles/BreakGlass.yaml")["Resources"]["Role"]
    assert resource["Metadata"]["BreakGlass"]["Reason"].startswith("Emergency access")
    condition = resource["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition["NumericLessThan"] == {"aws:MultiFactorAuthAge": "900"}


def test_login_policy_mirrors_the_role_trust(rendered: dict[str, bytes]) -> None:
    resources = _template(rendered, "org/login-account.yaml")["Resources"]
    policy = resources["AssumeBreakGlassPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity"]
    assert policy["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/emergency/BreakGlass"}]
    assert policy["Condition"] == {
        "Bool": {"aws:MultiFactorAuthPresent": "true"},
        "NumericLessThan": {"aws:MultiFactorAuthAge": "900"},
        "StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}},
    }
    assert "AssumeDeployerPolicy" not in resources  # trusted by the CI account, not by people
    assert resources["DeveloperGroup"]["Properties"]["ManagedPolicyArns"] == [
        {"Ref": "AssumeDeveloperPolicy"}
    ]


def test_explain_prod_shows_inherited_roles_and_their_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--ou", "Root/Workloads/Prod", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["role"], r["attached_at"], r["source"]) for r in data["roles"]] == [
        ("Auditor", "Root", "org_roles/Root/ou.yaml"),
        ("BillingViewer", "Root", "org_roles/Root/ou.yaml"),
        ("BreakGlass", "Root", "org_roles/Root/ou.yaml"),
        ("Deployer", "Root/Workloads", "org_roles/Root/Workloads/ou.yaml"),
        ("Developer", "Root/Workloads", "org_roles/Root/Workloads/ou.yaml"),
        ("ReadOnly", "Root/Workloads", "org_roles/Root/Workloads/ou.yaml"),
    ]
    dev = data["roles"][4]["parameters"]["MaxSessionDuration"]
    assert dev == {"value": "3600", "origin": "org_roles/Root/Workloads/Prod/ou.yaml"}


def test_explain_text_for_an_ou(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--org", "tests/fixtures/orgs/minimal", "--ou", "Root/Apps/Prod"]) == 0
    assert capsys.readouterr().out == (
        "Root/Apps/Prod  (tests/fixtures/orgs/minimal/Root/Apps/Prod/ou.yaml)\n"
        "1 effective role(s):\n"
        "  Reader: inherited from Root, tests/fixtures/orgs/minimal/Root/ou.yaml\n"
        "      Bucket             = logs  (tests/fixtures/orgs/minimal/Root/Apps/Prod/ou.yaml)\n"
        "      LoginAccountId     = 222222222222  (tests/fixtures/orgs/minimal/org.yaml)\n"
        "      MaxSessionDuration = 3600  (tests/fixtures/orgs/minimal/roles/Reader.yaml)\n"
        "      Project            = org-roles  (tests/fixtures/orgs/minimal/org.yaml)\n"
    )


def test_explain_role_lists_reach_and_exclusions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--org", "tests/fixtures/orgs/selfmanaged", "--role", "Automation"]) == 0
    out = capsys.readouterr().out
    assert "reaches 3 OU(s):" in out
    assert "excluded accounts: 444444444444, 555555555555" in out
    assert "MaxSessionDuration = 7200  (tests/fixtures/orgs/selfmanaged/Root/Teams/Web/ou.yaml)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--ou", "Root/Workload"],
            "error: no OU 'Root/Workload' in the organization; did you mean 'Root/Workloads'?\n",
        ),
        (["--role", "Develper"], "error: no role 'Develper' in the catalog; did you mean 'Developer'?\n"),
    ],
)
def test_explain_unknown_names(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", *args]) == 2
    assert capsys.readouterr().err == message


def _login_statements(rendered: dict[str, bytes]) -> list[dict]:
    resources = _template(rendered, "org/login-account.yaml")["Resources"]
    return [
        s
        for r in resources.values()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_every_login_policy_stays_inside_the_organization(rendered: dict[str, bytes]) -> None:
    """Issue 13 item 8: every statement that lets people assume (or tag) a role names the organization
    of the role's account, so a same-named role in a foreign account cannot be assumed."""
    statements = _login_statements(rendered)
    assert len(statements) == 6
    for s in statements:
        assert s["Condition"]["StringEquals"]["aws:ResourceOrgID"] == {"Ref": "OrganizationId"}, s
    template = _template(rendered, "org/login-account.yaml")
    assert template["Parameters"]["OrganizationId"]["Default"] == "o-a1b2c3d4e5"


def test_no_session_tags_unless_declared(rendered: dict[str, bytes]) -> None:
    """Without login_account.session_tag_keys nobody may tag a session at all."""
    assert not any("sts:TagSession" in s["Action"] for s in _login_statements(rendered))


def test_session_tags_only_with_declared_keys(root: Path, tmp_path: Path) -> None:
    org_dir = tmp_path / "org_roles"
    shutil.copytree(root / "tests" / "fixtures" / "orgs" / "minimal", org_dir)
    org_yaml = org_dir / "org.yaml"
    org_yaml.write_text(org_yaml.read_text() + "login_account:\n  session_tag_keys: [Team, CostCenter]\n")
    rendered = render_all(RenderContext(root=root, org_dir=org_dir), [org_roles.BLUEPRINT])
    tagging = [s for s in _login_statements(rendered) if "sts:TagSession" in s["Action"]]
    assert [s["Action"] for s in tagging] == [["sts:TagSession"]]
    assert tagging[0]["Condition"]["ForAllValues:StringEquals"] == {"aws:TagKeys": ["CostCenter", "Team"]}
    assert tagging[0]["Condition"]["StringEquals"] == {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}


def _role_statements(rendered: dict[str, bytes], role: str) -> list[dict]:
    props = _template(rendered, f"org/roles/{role}.yaml")["Resources"]["Role"]["Properties"]
    return [s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def test_sample_developer_cannot_run_code_as_other_roles(rendered: dict[str, bytes]) -> None:
    """Issue 13 item 6: nothing on '*' that runs code as another identity, and no direct invocation of the
    event-driven deploy function."""
    statements = _role_statements(rendered, "Developer")
    allowed_on_everything = {
        a for s in statements if s["Effect"] == "Allow" and "*" in s["Resource"] for a in s["Action"]
    }
    assert allowed_on_everything == {"logs:StartQuery", "logs:GetQueryResults"}
    granted = {a for s in statements if s["Effect"] == "Allow" for a in s["Action"]}
    assert not granted & {"lambda:UpdateFunctionConfiguration", "lambda:UpdateFunctionCode", "ecs:RunTask"}
    deny = next(s for s in statements if s["Sid"] == "NoDirectDeploys")
    assert (deny["Effect"], deny["Action"]) == ("Deny", ["lambda:InvokeFunction"])
    assert deny["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:*-ecs-deploy"}
    ]


@pytest.mark.parametrize("role", ["Developer", "NetworkAdmin", "ReadOnly"])
def test_read_only_access_never_reads_secret_values(rendered: dict[str, bytes], role: str) -> None:
    """Every sample role carrying ReadOnlyAccess denies the secret and parameter reads ReadOnly denies."""
    props = _template(rendered, f"org/roles/{role}.yaml")["Resources"]["Role"]["Properties"]
    assert "arn:aws:iam::aws:policy/ReadOnlyAccess" in props["ManagedPolicyArns"]
    denied = {
        a
        for s in _role_statements(rendered, role)
        if s["Effect"] == "Deny" and s["Resource"] == ["*"]
        for a in s["Action"]
    }
    assert denied >= {
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:GetParametersByPath",
        "ssm:GetParameterHistory",
    }


def test_billing_viewer_uses_the_current_billing_actions(rendered: dict[str, bytes]) -> None:
    """Issue 13 item 9: the aws-portal actions were retired; the fine-grained ones replace them."""
    actions = {a for s in _role_statements(rendered, "BillingViewer") for a in s["Action"]}
    assert not any(a.startswith("aws-portal:") for a in actions)
    assert {
        "billing:GetBillingData",
        "billing:GetBillingDetails",
        "cur:GetUsageReport",
        "invoicing:ListInvoiceSummaries",
        "budgets:ViewBudget",
    } <= actions
