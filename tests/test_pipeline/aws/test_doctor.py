"""The doctor's reads (pipeline/aws/doctor.py) with botocore Stubber, for the calls moto lacks or answers
loosely: iam:SimulatePrincipalPolicy, Service Quotas, the caller's IAM ARN, the forwarding rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pipeline.aws import doctor
from pipeline.aws.retry import Backoff
from pipeline.core import checks as c

MGMT = "111111111111"
NO_WAIT = Backoff(attempts=1, sleep=lambda _s: None)


def client(service: str) -> Any:
    return boto3.session.Session(region_name="us-east-1").client(service, endpoint_url="http://127.0.0.1:9")


@pytest.fixture
def iam() -> Iterator[tuple[Any, Stubber]]:
    made = client("iam")
    with Stubber(made) as stub:
        yield made, stub
        stub.assert_no_pending_responses()


def _result(action: str, resource: str, decision: str, matched: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision}
    if matched is not None:
        out["MatchedStatements"] = [{"SourcePolicyId": m} for m in matched]
    return out


def test_simulate_asks_once_per_statement_resource_with_every_action(iam: tuple[Any, Stubber]) -> None:
    made, stub = iam
    role = f"arn:aws:iam::{MGMT}:role/org-sync"
    arn = f"arn:aws:cloudformation:us-east-1:{MGMT}:stackset/org-roles-A:*"
    statements = [
        c.Statement("ReadOrganization", ("organizations:ListRoots",), ("*",), ("*",)),
        c.Statement("ManageOurStackSets", ("cloudformation:CreateStackSet",), ("x",), (arn,)),
    ]
    stub.add_response(
        "simulate_principal_policy",
        {"EvaluationResults": [_result("organizations:ListRoots", "*", "explicitDeny", ["scp-1", "inline"])]},
        {"PolicySourceArn": role, "ActionNames": ["organizations:ListRoots"], "ResourceArns": ["*"]},
    )
    stub.add_response(
        "simulate_principal_policy",
        {"EvaluationResults": [_result("cloudformation:CreateStackSet", arn, "allowed")]},
        {"PolicySourceArn": role, "ActionNames": ["cloudformation:CreateStackSet"], "ResourceArns": [arn]},
    )
    assert doctor.simulate(made, role, statements, NO_WAIT) == (
        c.Decision("organizations:ListRoots", "*", "explicitDeny", ("inline", "scp-1")),
        c.Decision("cloudformation:CreateStackSet", arn, "allowed"),
    )


def test_an_assumed_role_is_simulated_as_its_role_with_its_path(iam: tuple[Any, Stubber]) -> None:
    made, stub = iam
    real = f"arn:aws:iam::{MGMT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
    stub.add_response(
        "get_role",
        {
            "Role": {
                "Path": "/aws-reserved/sso.amazonaws.com/",
                "RoleName": "AWSReservedSSO_Admin_0123",
                "RoleId": "AROAEXAMPLEEXAMPLE01",
                "Arn": real,
                "CreateDate": "2026-01-01T00:00:00Z",
            }
        },
        {"RoleName": "AWSReservedSSO_Admin_0123"},
    )
    reader = doctor.Reader(NO_WAIT)
    caller = f"arn:aws:sts::{MGMT}:assumed-role/AWSReservedSSO_Admin_0123/me@example.com"
    assert doctor.principal_arn(caller, made, reader) == real


def test_an_unreadable_role_falls_back_to_the_arn_without_path(iam: tuple[Any, Stubber]) -> None:
    made, stub = iam
    stub.add_client_error("get_role", "AccessDenied", "no", 403)
    reader = doctor.Reader(NO_WAIT)
    got = doctor.principal_arn(f"arn:aws:sts::{MGMT}:assumed-role/Ops/me", made, reader)
    assert got == f"arn:aws:iam::{MGMT}:role/Ops"
    assert reader.errors == {"role": "AccessDenied: no"}


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        (f"arn:aws:iam::{MGMT}:user/alice", f"arn:aws:iam::{MGMT}:user/alice"),
        (f"arn:aws:iam::{MGMT}:root", None),
    ],
)
def test_users_are_simulated_as_themselves_and_root_not_at_all(caller: str, expected: str | None) -> None:
    assert doctor.principal_arn(caller, client("iam"), doctor.Reader(NO_WAIT)) == expected


def test_quotas_come_from_service_quotas_by_name() -> None:
    made = client("service-quotas")
    with Stubber(made) as stub:
        quotas = [
            {"QuotaName": c.STACKSETS_QUOTA_NAME, "Value": 2000.0},
            {"QuotaName": c.INSTANCES_QUOTA_NAME, "Value": 150000.0},
            {"QuotaName": "Stack count", "Value": 2000.0},
        ]
        stub.add_response("list_service_quotas", {"Quotas": quotas}, {"ServiceCode": "cloudformation"})
        assert doctor.read_quotas(made, NO_WAIT) == c.Quotas(2000, 150000, "Service Quotas")


def test_quotas_service_quotas_does_not_list_are_the_documented_defaults() -> None:
    made = client("service-quotas")
    with Stubber(made) as stub:
        stub.add_response("list_service_quotas", {"Quotas": []}, {"ServiceCode": "cloudformation"})
        assert doctor.read_quotas(made, NO_WAIT) == c.Quotas(1000, 100_000, "documented defaults")


def test_a_forwarding_rule_in_us_east_1_is_found_by_its_target_in_the_home_region() -> None:
    made = client("events")
    with Stubber(made) as stub:
        rules = [
            {"Name": "other", "EventPattern": '{"source": ["aws.ec2"]}'},
            {"Name": "forward", "EventPattern": '{"source": ["aws.organizations"]}'},
        ]
        stub.add_response("list_rules", {"Rules": rules}, {})
        bus = f"arn:aws:events:eu-west-1:{MGMT}:event-bus/default"
        stub.add_response("list_targets_by_rule", {"Targets": [{"Id": "1", "Arn": bus}]}, {"Rule": "forward"})
        assert doctor.forwarding_rule(made, "eu-west-1", NO_WAIT) is True


def test_a_rule_forwarding_elsewhere_is_not_the_forwarding_rule() -> None:
    made = client("events")
    with Stubber(made) as stub:
        rules = [{"Name": "forward", "EventPattern": '{"source": ["aws.organizations"]}'}]
        stub.add_response("list_rules", {"Rules": rules}, {})
        bus = f"arn:aws:events:us-west-2:{MGMT}:event-bus/default"
        stub.add_response("list_targets_by_rule", {"Targets": [{"Id": "1", "Arn": bus}]}, {"Rule": "forward"})
        assert doctor.forwarding_rule(made, "eu-west-1", NO_WAIT) is False
