"""The org pipeline's ARNs as AWS authorizes them (issue 13, item 5) and its delegated-admin mode
(issue 12, item 10): StackSet ARNs in the account the StackSets live in, resource type ARNs with the
account field AWS's managed policies write, CodeConnections under both prefixes, and the management
account's Organizations events forwarded to the pipeline account."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.blueprints import org_pipeline
from generator.blueprints.base import RenderContext
from generator.render import render_all

ACCOUNT = {
    "StackSetAccount": {
        "Fn::If": ["DelegatedAdmin", {"Ref": "ManagementAccountId"}, {"Ref": "AWS::AccountId"}]
    }
}


@pytest.fixture(scope="module")
def rendered(root: Path) -> dict[str, dict]:
    out = render_all(RenderContext(root=root), [org_pipeline.BLUEPRINT])
    return {path: yaml.safe_load(body) for path, body in out.items() if path.endswith(".yaml")}


def _statement(template: dict, role: str, sid: str) -> dict:
    policies = template["Resources"][role]["Properties"]["Policies"]
    return next(s for p in policies for s in p["PolicyDocument"]["Statement"] if s.get("Sid") == sid)


def test_stackset_arns_carry_the_account_the_stacksets_live_in(rendered: dict) -> None:
    # The sync role alone reads and writes StackSets: the plan is the packaged sync's (the Plan action).
    statement = _statement(rendered["org/pipeline.yaml"], "SyncRole", "ManageOurStackSets")
    assert statement["Resource"] == [
        {
            "Fn::Sub": [
                "arn:${AWS::Partition}:cloudformation:*:${StackSetAccount}:stackset/${StackSetPrefix}-*:*",
                ACCOUNT,
            ]
        },
        {
            "Fn::Sub": [
                "arn:${AWS::Partition}:cloudformation:*:${StackSetAccount}:stackset-target/${StackSetPrefix}-*:*",
                ACCOUNT,
            ]
        },
        {"Fn::Sub": "arn:${AWS::Partition}:cloudformation:*:*:type/resource/AWS-IAM-*"},
    ]


def test_delegated_admin_mode_needs_the_management_account(rendered: dict) -> None:
    t = rendered["org/pipeline.yaml"]
    assert t["Parameters"]["CallAs"]["AllowedValues"] == ["SELF", "DELEGATED_ADMIN"]
    assert t["Conditions"]["DelegatedAdmin"] == {"Fn::Equals": [{"Ref": "CallAs"}, "DELEGATED_ADMIN"]}
    rule = t["Rules"]["ManagementAccountForDelegatedAdmin"]
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ManagementAccountId"}, ""]}]
    }
    assert _statement(t, "SyncRole", "CheckDelegatedAdministrator") == {
        "Sid": "CheckDelegatedAdministrator",
        "Effect": "Allow",
        "Action": ["organizations:ListDelegatedAdministrators"],
        "Resource": ["*"],
    }


@pytest.mark.parametrize(
    ("role", "sid"), [("PipelineRole", "GitHubSource"), ("BuildRole", "UseConnectionForGitClone")]
)
def test_use_connection_under_both_prefixes_for_one_repository_and_branch(
    rendered: dict, role: str, sid: str
) -> None:
    t = rendered["org/pipeline.yaml"]
    for prefix, suffix in (("codestar-connections", "CodeStar"), ("codeconnections", "")):
        statement = _statement(t, role, sid + suffix)
        assert statement["Action"] == [f"{prefix}:UseConnection"]
        assert statement["Condition"] == {
            "StringEquals": {f"{prefix}:FullRepositoryId": {"Ref": "FullRepositoryId"}},
            "StringEqualsIfExists": {f"{prefix}:BranchName": {"Ref": "BranchName"}},
        }


def test_the_management_account_forwards_organizations_events_to_the_pipeline_bus(rendered: dict) -> None:
    pipeline, forwarder = rendered["org/pipeline.yaml"], rendered["org/management-events.yaml"]
    watcher = pipeline["Resources"]["OrganizationWatcherRule"]["Properties"]["EventPattern"]
    rule = forwarder["Resources"]["OrganizationEventsForwarder"]["Properties"]
    assert rule["EventPattern"] == watcher == org_pipeline.WATCHED_EVENTS
    bus = {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${PipelineAccountId}:event-bus/default"}
    assert rule["Targets"][0]["Arn"] == bus
    assert _statement(forwarder, "ForwarderRole", "PutOnPipelineBus")["Resource"] == [bus]
    policy = pipeline["Resources"]["ManagementAccountEvents"]
    assert policy["Condition"] == "DelegatedAdmin"
    assert policy["Properties"]["Statement"]["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ManagementAccountId}:root"}
    }
    assert policy["Properties"]["Statement"]["Action"] == "events:PutEvents"
