"""`generator deploy` against a moto server on 127.0.0.1: create, no-op update, decline, failures."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import boto3
import pytest

from generator.cli import main
from generator.deploy import DeployError, deploy, parameter_list
from generator.errors import GeneratorError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from pipeline.emulator.cfn_models import install

    install()
    saved = {
        k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _client(endpoint: str, service: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def test_deploy_org_pipeline_creates_then_reports_no_changes(
    endpoint: str, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = _client(endpoint, "s3")
    s3.create_bucket(Bucket="sync-code")
    assert main(["package", "--output", str(tmp_path / "sync.zip")]) == 0
    s3.put_object(Bucket="sync-code", Key="org-sync-lambda.zip", Body=(tmp_path / "sync.zip").read_bytes())
    args = [
        "deploy",
        "org-pipeline",
        "--endpoint-url",
        endpoint,
        "--region",
        "us-east-1",
        "--yes",
        "--parameter",
        "SyncCodeBucket=sync-code",
        "--parameter",
        "ConnectionArn=",
        "--parameter",
        "LoginAccountId=222222222222",
        "--parameter",
        "BreakGlassOrganizationId=o-a1b2c3d4e5",
        "--poll-seconds",
        "0.1",
    ]
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "change set for org-pipeline: 34 change(s)" in out
    assert "Add     ArtifactBucket AWS::S3::Bucket" in out
    assert out.rstrip().endswith("org-pipeline: deployed")

    cfn = _client(endpoint, "cloudformation")
    assert cfn.describe_stacks(StackName="org-pipeline")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName="org-pipeline")["StackResourceSummaries"]
    }
    assert resources["ArtifactBucket"] in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    topics = {t["TopicArn"] for t in _client(endpoint, "sns").list_topics()["Topics"]}
    assert {resources["ApprovalTopic"], resources["NotificationTopic"]} <= topics
    rules = {r["Name"] for r in _client(endpoint, "events").list_rules()["Rules"]}
    assert {resources["OrganizationWatcherRule"], resources["PipelineResultRule"]} <= rules
    pipelines = [p["name"] for p in _client(endpoint, "codepipeline").list_pipelines()["pipelines"]]
    assert pipelines == ["org-roles-pipeline"]

    assert main(args) == 0
    assert capsys.readouterr().out.strip().endswith("org-pipeline: no changes")
    assert _change_sets(cfn, "org-pipeline") == []  # executed, then empty: none left

    # An upgrade: the same stack with a new SyncCodeKey (moto's update lost PipelineKey, see cfn_models).
    s3.put_object(Bucket="sync-code", Key="org-sync-lambda-2.zip", Body=(tmp_path / "sync.zip").read_bytes())
    assert main([*args, "--parameter", "SyncCodeKey=org-sync-lambda-2.zip"]) == 0
    out = capsys.readouterr().out
    # Both functions run the packaged sync's code: the sync and the Organizations-event debounce.
    assert sorted(out.splitlines()[:3]) == [
        "  Modify  OrgEventsFunction AWS::Lambda::Function",
        "  Modify  SyncFunction AWS::Lambda::Function",
        "change set for org-pipeline: 2 change(s)",
    ]
    assert out.rstrip().endswith("org-pipeline: deployed")
    stack = cfn.describe_stacks(StackName="org-pipeline")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert {"ParameterKey": "SyncCodeKey", "ParameterValue": "org-sync-lambda-2.zip"} in stack["Parameters"]
    assert _change_sets(cfn, "org-pipeline") == []


def _change_sets(cfn: Any, stack: str) -> list[str]:
    # moto's ListChangeSets ignores StackName, so filter here.
    return [
        c["ChangeSetName"]
        for c in cfn.list_change_sets(StackName=stack)["Summaries"]
        if c["StackName"] == stack
    ]


def test_declined_change_set_is_deleted_and_nothing_created(endpoint: str, root: Path) -> None:
    cfn = _client(endpoint, "cloudformation")
    body = (root / "templates" / "org" / "login-account.yaml").read_text()
    outcome = deploy(
        cfn, "declined", body, {}, confirm=lambda changes: False, progress=print, poll_seconds=0.05
    )
    assert outcome.status == "DECLINED" and outcome.changes
    # moto's ListChangeSets ignores StackName, so filter here.
    left = [
        c for c in cfn.list_change_sets(StackName="declined")["Summaries"] if c["StackName"] == "declined"
    ]
    assert left == []


def test_missing_parameters_are_named_before_any_call(root: Path) -> None:
    body = (root / "templates" / "org" / "pipeline.yaml").read_text()
    with pytest.raises(
        GeneratorError,
        match=re.escape(
            "--parameter BreakGlassOrganizationId=... --parameter ConnectionArn=... "
            "--parameter LoginAccountId=... --parameter SyncCodeBucket=..."
        ),
    ):
        parameter_list(body, {}, None)
    with pytest.raises(GeneratorError, match="the template has no parameter Nope"):
        parameter_list(body, {"Nope": "x"}, None)
    update = parameter_list(
        body,
        {"SyncCodeBucket": "b"},
        {"BreakGlassOrganizationId", "ConnectionArn", "LoginAccountId", "SyncCodeBucket"},
    )
    assert {"ParameterKey": "ConnectionArn", "UsePreviousValue": True} in update
    assert {"ParameterKey": "SyncCodeBucket", "ParameterValue": "b"} in update


def test_failed_stack_explains_the_failing_resource() -> None:
    """moto creates resources synchronously and never fails one mid-stack, so Stubber plays AWS here."""
    from datetime import datetime

    from botocore.stub import ANY, Stubber

    cfn = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    body = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    later = datetime(2100, 1, 1, tzinfo=UTC)
    failed = {
        "StackId": "s",
        "EventId": "e2",
        "StackName": "broken",
        "LogicalResourceId": "Topic",
        "ResourceType": "AWS::SNS::Topic",
        "Timestamp": later,
        "ResourceStatus": "CREATE_FAILED",
        "ResourceStatusReason": "Topic name already exists",
    }
    rolled = {
        **failed,
        "EventId": "e3",
        "LogicalResourceId": "broken",
        "ResourceType": "AWS::CloudFormation::Stack",
        "ResourceStatus": "ROLLBACK_COMPLETE",
        "ResourceStatusReason": "",
    }
    stack = {"StackName": "broken", "CreationTime": later, "StackStatus": "ROLLBACK_COMPLETE"}
    with Stubber(cfn) as stub:
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id broken does not exist")
        stub.add_response(
            "create_change_set",
            {"Id": "cs", "StackId": "s"},
            {
                "StackName": "broken",
                "ChangeSetName": ANY,
                "ChangeSetType": "CREATE",
                "TemplateBody": body,
                "Parameters": [],
                "Capabilities": ANY,
                "Tags": [],
            },
        )
        stub.add_response(
            "describe_change_set",
            {
                "Status": "CREATE_COMPLETE",
                "Changes": [
                    {
                        "Type": "Resource",
                        "ResourceChange": {
                            "Action": "Add",
                            "LogicalResourceId": "Topic",
                            "ResourceType": "AWS::SNS::Topic",
                        },
                    }
                ],
            },
            {"StackName": "broken", "ChangeSetName": ANY},
        )
        stub.add_response("execute_change_set", {}, {"StackName": "broken", "ChangeSetName": ANY})
        stub.add_response("describe_stack_events", {"StackEvents": [rolled, failed]}, {"StackName": "broken"})
        stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "broken"})
        progress: list[str] = []
        with pytest.raises(DeployError) as raised:
            deploy(
                cfn,
                "broken",
                body,
                {},
                confirm=lambda changes: True,
                progress=progress.append,
                poll_seconds=0,
            )
        stub.assert_no_pending_responses()
    assert str(raised.value) == (
        "stack broken ended ROLLBACK_COMPLETE: Topic (AWS::SNS::Topic): Topic name already exists"
    )
    assert progress == ["Topic CREATE_FAILED: Topic name already exists", "broken ROLLBACK_COMPLETE"]


def test_unknown_template_name_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "nope", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "no rendered template named 'nope'" in err and "org-pipeline" in err


def test_refuses_to_execute_without_yes_when_not_a_terminal(
    endpoint: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code = main(
        [
            "deploy",
            "org-login-account",
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
            "--poll-seconds",
            "0.05",
        ]
    )
    assert code == 2
    assert "refusing to execute without --yes" in capsys.readouterr().err


def test_change_set_that_fails_to_execute_is_deleted() -> None:
    """ExecuteChangeSet refused (here as moto refused the org-pipeline upgrade): the change set goes."""
    from botocore.stub import ANY, Stubber

    cfn = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    body = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    name = {"StackName": "s", "ChangeSetName": ANY}
    change = {"Type": "Resource", "ResourceChange": {"Action": "Modify", "LogicalResourceId": "Topic"}}
    with Stubber(cfn) as stub:
        stub.add_response(
            "describe_stacks", {"Stacks": [_stack_summary("UPDATE_COMPLETE")]}, {"StackName": "s"}
        )
        stub.add_response("list_change_sets", {"Summaries": []}, {"StackName": "s"})
        stub.add_response(
            "create_change_set",
            {"Id": "cs"},
            {
                **name,
                "ChangeSetType": "UPDATE",
                "TemplateBody": body,
                "Parameters": [],
                "Capabilities": ANY,
                "Tags": [],
            },
        )
        stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [change]}, name)
        stub.add_client_error("execute_change_set", "ValidationError", "Template error", expected_params=name)
        stub.add_response("delete_change_set", {}, name)
        with pytest.raises(cfn.exceptions.ClientError):
            deploy(cfn, "s", body, {}, confirm=lambda changes: True, progress=print, poll_seconds=0)
        stub.assert_no_pending_responses()


def test_change_set_is_deleted_when_the_confirmation_fails() -> None:
    """No terminal to ask (or Ctrl-C at the question): the change set goes, the error stays."""
    from botocore.stub import ANY, Stubber

    cfn = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    body = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    name = {"StackName": "s", "ChangeSetName": ANY}

    def refuse(changes: object) -> bool:
        raise KeyboardInterrupt

    with Stubber(cfn) as stub:
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id s does not exist")
        stub.add_response(
            "create_change_set",
            {"Id": "cs"},
            {
                **name,
                "ChangeSetType": "CREATE",
                "TemplateBody": body,
                "Parameters": [],
                "Capabilities": ANY,
                "Tags": [],
            },
        )
        stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": []}, name)
        stub.add_response("delete_change_set", {}, name)
        with pytest.raises(KeyboardInterrupt):
            deploy(cfn, "s", body, {}, confirm=refuse, progress=print, poll_seconds=0)
        stub.assert_no_pending_responses()


def _stack_summary(status: str) -> dict[str, Any]:
    from datetime import datetime

    return {"StackName": "s", "CreationTime": datetime(2100, 1, 1, tzinfo=UTC), "StackStatus": status}


def test_the_management_deployer_bootstrap_deploys_as_the_readme_says(
    endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13 item 4: an administrator deploys the service role once; the sync passes it by this name."""
    args = ["deploy", "org/management-deployer", "--endpoint-url", endpoint, "--region", "us-east-1", "--yes"]
    args += ["--poll-seconds", "0.1"]
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().out.rstrip().endswith("org-management-deployer: deployed")
    role = _client(endpoint, "iam").get_role(RoleName="org-roles-management-deployer")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": ["cloudformation.amazonaws.com"]
    }


def test_each_poll_in_progress_reports_its_status_to_waiting() -> None:
    """What `deploy` shows on a terminal between stack events: the change set's, then the stack's status."""
    from datetime import datetime

    from botocore.stub import ANY, Stubber

    cfn = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    body = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    change = {"Type": "Resource", "ResourceChange": {"Action": "Add", "LogicalResourceId": "Topic"}}
    names = {"StackName": "s", "ChangeSetName": ANY}
    stack = {"StackName": "s", "CreationTime": datetime(2100, 1, 1, tzinfo=UTC)}
    with Stubber(cfn) as stub:
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id s does not exist")
        stub.add_response("create_change_set", {"Id": "cs", "StackId": "s"})
        stub.add_response("describe_change_set", {"Status": "CREATE_PENDING"}, names)
        stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [change]}, names)
        stub.add_response("execute_change_set", {}, names)
        for status in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE"):
            stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": "s"})
            stub.add_response(
                "describe_stacks", {"Stacks": [{**stack, "StackStatus": status}]}, {"StackName": "s"}
            )
        waiting: list[str] = []
        outcome = deploy(
            cfn, "s", body, {}, confirm=lambda c: True, progress=print, poll_seconds=0, waiting=waiting.append
        )
        stub.assert_no_pending_responses()
    assert outcome.status == "EXECUTED"
    assert waiting == ["change set CREATE_PENDING", "CREATE_IN_PROGRESS"]
