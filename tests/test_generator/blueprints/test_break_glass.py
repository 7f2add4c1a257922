"""Issue 13 item 7: break-glass that works and is watched. The login account's groups can assume their role
(BreakGlass, trusted only by the incident commander's role, gets no group), every break-glass session carries
a source identity, and any assumption of the break-glass role anywhere in the organization reaches the alarm
topic: member accounts forward to the management account's alarm bus, whose rules page the topic."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from moto.events.models import EventPattern

from generator.blueprints import org_roles
from generator.blueprints.base import RenderContext
from generator.render import render_all
from tests.support.paths import ROOT

MGMT, MEMBER = "111111111111", "333333333333"


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    return render_all(RenderContext(root=ROOT), [org_roles.BLUEPRINT])


def _yaml(rendered: dict[str, Any], path: str) -> dict[str, Any]:
    return yaml.safe_load(rendered[path])


def _pipeline() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "templates" / "org" / "pipeline.yaml").read_text())


def test_every_login_group_can_assume_its_role(rendered: dict[str, Any]) -> None:
    """A group's members are IAM users: a group exists only for roles whose trust admits users."""
    login = _yaml(rendered, org_roles.LOGIN_TEMPLATE)["Resources"]
    groups = sorted(name for name, r in login.items() if r["Type"] == "AWS::IAM::Group")
    assert groups == [
        "AuditorGroup",
        "BillingViewerGroup",
        "DeveloperGroup",
        "NetworkAdminGroup",
        "ReadOnlyGroup",
    ]
    for group in groups:
        role = group.removesuffix("Group")
        trust = _yaml(rendered, f"org/roles/{role}.yaml")["Resources"]["Role"]["Properties"][
            "AssumeRolePolicyDocument"
        ]["Statement"][0]
        assert "ArnLike" not in trust["Condition"], role  # no principal list: users pass
    # The break-glass policy still exists, for the incident commander's role.
    assert "AssumeBreakGlassPolicy" in login and "BreakGlassGroup" not in login


@pytest.mark.parametrize(
    ("path", "resource"),
    [("org/roles/BreakGlass.yaml", "Role"), ("org/management-account.yaml", "BreakGlassRole")],
)
def test_break_glass_requires_a_source_identity(rendered: dict[str, Any], path: str, resource: str) -> None:
    statement = _yaml(rendered, path)["Resources"][resource]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ][0]
    assert "sts:SetSourceIdentity" in statement["Action"]
    assert statement["Condition"]["Null"] == {"sts:SourceIdentity": "false"}


def test_other_roles_do_not_require_a_source_identity(rendered: dict[str, Any]) -> None:
    statement = _yaml(rendered, "org/roles/Developer.yaml")["Resources"]["Role"]["Properties"][
        "AssumeRolePolicyDocument"
    ]["Statement"][0]
    assert "Null" not in statement["Condition"]


def _assume_event(account: str, role_arn: str) -> str:
    """An AssumeRole as CloudTrail delivers it to EventBridge."""
    return json.dumps(
        {
            "id": "1",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.sts",
            "account": account,
            "time": "2026-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "eventSource": "sts.amazonaws.com",
                "eventName": "AssumeRole",
                "userIdentity": {"arn": "arn:aws:sts::222222222222:assumed-role/incident-commander/alice"},
                "requestParameters": {"roleArn": role_arn, "sourceIdentity": "alice"},
            },
        }
    )


def _matches(pattern: dict[str, Any], event: str) -> bool:
    """moto's EventBridge pattern matcher, the one its rules use (moto's TestEventPattern is a stub)."""
    return bool(EventPattern(None, pattern).matches_event(json.loads(event)))


def test_member_accounts_forward_break_glass_assumptions(rendered: dict[str, Any]) -> None:
    resources = _yaml(rendered, "org/roles/BreakGlass.yaml")["Resources"]
    rule = resources["BreakGlassForwardRule"]["Properties"]
    bus = {"Fn::Sub": f"arn:${{AWS::Partition}}:events:us-east-1:{MGMT}:event-bus/org-roles-break-glass"}
    assert rule["Targets"] == [
        {"Arn": bus, "Id": "AlarmBus", "RoleArn": {"Fn::GetAtt": ["BreakGlassForwarderRole", "Arn"]}}
    ]
    forwarder = resources["BreakGlassForwarderRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert [(s["Action"], s["Resource"]) for s in forwarder["Statement"]] == [(["events:PutEvents"], [bus])]
    pattern = rule["EventPattern"]
    assert _matches(pattern, _assume_event(MEMBER, f"arn:aws:iam::{MEMBER}:role/emergency/BreakGlass"))
    assert not _matches(pattern, _assume_event(MEMBER, f"arn:aws:iam::{MEMBER}:role/people/Developer"))
    # Only the break-glass role forwards.
    assert "BreakGlassForwardRule" not in _yaml(rendered, "org/roles/Developer.yaml")["Resources"]


def test_the_management_account_pages_on_every_break_glass_assumption() -> None:
    template = _pipeline()
    resources = template["Resources"]
    suffix = template["Parameters"]["BreakGlassRoleArnSuffix"]["Default"]
    assert suffix == ":role/emergency/BreakGlass"  # the sample BreakGlass role's path and name
    bus = resources["BreakGlassBus"]["Properties"]["Name"]
    assert bus == {"Fn::Sub": "${Project}-break-glass"}
    assert template["Parameters"]["Project"]["Default"] == "org-roles"  # the name member accounts target
    policy = resources["BreakGlassBusPolicy"]["Properties"]["Statement"]
    assert policy["Action"] == "events:PutEvents"
    assert policy["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": {"Ref": "BreakGlassOrganizationId"}}
    }
    rules = {
        name: resources[name]["Properties"]
        for name in ("BreakGlassForwardedRule", "BreakGlassManagementRule")
    }
    assert rules["BreakGlassForwardedRule"]["EventBusName"] == bus
    assert rules["BreakGlassManagementRule"]["EventBusName"] == "default"
    for name, rule in rules.items():
        assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": "BreakGlassAlarmTopic"}], name
        pattern = json.loads(
            json.dumps(rule["EventPattern"]).replace('{"Ref": "BreakGlassRoleArnSuffix"}', json.dumps(suffix))
        )
        for account in (MGMT, MEMBER):
            assert _matches(
                pattern, _assume_event(account, f"arn:aws:iam::{account}:role/emergency/BreakGlass")
            )
        assert not _matches(pattern, _assume_event(MEMBER, f"arn:aws:iam::{MEMBER}:role/ReadOnly"))
    topic = resources["BreakGlassAlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["PipelineKey", "Arn"]}
