"""The management-account stack's change set, against exact CloudFormation call shapes (botocore Stubber):
it carries the CloudFormation service role from the manifest (issue 13 item 4), because without RoleARN a
change set runs with the sync's own credentials, which hold no IAM permissions."""

from __future__ import annotations

import boto3
from botocore.stub import ANY, Stubber

from pipeline.aws.retry import Backoff
from pipeline.aws.stack import deploy_stack
from pipeline.cli.files import load_manifest
from pipeline.core.planner import plan_management
from tests.support.sync import FIXTURE, NO_WAIT

ROLE = "arn:aws:iam::111111111111:role/org-roles-management-deployer"


def test_change_set_runs_with_the_deployer_role() -> None:
    spec = load_manifest(FIXTURE / "manifest.json").management_account_stack
    assert spec is not None and spec.service_role_arn == ROLE
    (op,) = plan_management(spec, None).ops
    client = boto3.client("cloudformation", region_name="us-east-1")
    name, change_set = spec.name, "org-stacksets-tok"
    missing = {
        "service_error_code": "ValidationError",
        "service_message": f"Stack with id {name} does not exist",
    }
    with Stubber(client) as stub:
        stub.add_client_error("describe_stacks", expected_params={"StackName": name}, **missing)
        stub.add_client_error(
            "describe_change_set",
            expected_params={"StackName": name, "ChangeSetName": change_set},
            service_error_code="ChangeSetNotFound",
        )
        stub.add_response(
            "create_change_set",
            {"Id": "cs-1", "StackId": "stack-1"},
            {
                "StackName": name,
                "ChangeSetName": change_set,
                "ChangeSetType": "CREATE",
                "TemplateBody": "body",
                "Parameters": ANY,
                "Capabilities": ["CAPABILITY_NAMED_IAM"],
                "Tags": ANY,
                "Description": "org-stacksets sync tok",
                "RoleARN": ROLE,
            },
        )
        stub.add_response(
            "describe_change_set",
            {"Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE", "Changes": []},
            {"StackName": name, "ChangeSetName": change_set},
        )
        stub.add_response(
            "execute_change_set",
            {},
            {"StackName": name, "ChangeSetName": change_set, "ClientRequestToken": "tok"},
        )
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": name,
                        "StackStatus": "CREATE_COMPLETE",
                        "CreationTime": "2024-01-01T00:00:00Z",
                        "RoleARN": ROLE,
                    }
                ]
            },
            {"StackName": name},
        )
        result = deploy_stack(
            client, op, "body", "tok", Backoff(sleep=lambda _s: None), NO_WAIT, lambda: False, lambda _m: None
        )
        stub.assert_no_pending_responses()
    assert result == "stack create_complete"
