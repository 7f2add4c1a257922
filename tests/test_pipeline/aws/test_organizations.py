"""The org reader (pipeline/aws/organizations.py) against exact Organizations call shapes (botocore Stubber)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pipeline.aws.organizations import read_org
from pipeline.aws.retry import Backoff
from pipeline.core.errors import OrgReadError

ORG = {"Organization": {"Id": "o-abcdefghij", "MasterAccountId": "111111111111"}}
ROOTS = {"Roots": [{"Id": "r-ab12", "Name": "Root", "Arn": "arn:aws:organizations::1:root/o/r-ab12"}]}


def _ou(i: str, name: str) -> dict[str, str]:
    return {"Id": i, "Name": name, "Arn": f"arn:aws:organizations::1:ou/o/{i}"}


def _acct(i: str, status: str = "ACTIVE") -> dict[str, str]:
    return {
        "Id": i,
        "Name": f"a{i[-2:]}",
        "Status": status,
        "Arn": f"arn:aws:organizations::1:account/o/{i}",
        "Email": "x@example.com",
    }


def stubbed() -> tuple[Any, Stubber]:
    client = boto3.client(
        "organizations", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    return client, Stubber(client)


def test_walks_pages_and_retries_throttling() -> None:
    client, stub = stubbed()
    stub.add_response("describe_organization", ORG, {})
    stub.add_response("list_roots", ROOTS, {"MaxResults": 20})
    stub.add_client_error(
        "list_organizational_units_for_parent", "TooManyRequestsException", http_status_code=400
    )
    stub.add_response(
        "list_organizational_units_for_parent",
        {"OrganizationalUnits": [_ou("ou-ab12-aaaaaaaa", "Workloads")], "NextToken": "p2"},
        {"ParentId": "r-ab12", "MaxResults": 20},
    )
    stub.add_client_error("list_organizational_units_for_parent", "Throttling", http_status_code=400)
    stub.add_response(
        "list_organizational_units_for_parent",
        {"OrganizationalUnits": [_ou("ou-ab12-bbbbbbbb", "Sandbox")]},
        {"ParentId": "r-ab12", "MaxResults": 20, "NextToken": "p2"},
    )
    stub.add_response(
        "list_accounts_for_parent",
        {"Accounts": [_acct("111111111111")]},
        {"ParentId": "r-ab12", "MaxResults": 20},
    )
    stub.add_response(
        "list_organizational_units_for_parent",
        {"OrganizationalUnits": []},
        {"ParentId": "ou-ab12-aaaaaaaa", "MaxResults": 20},
    )
    stub.add_response(
        "list_accounts_for_parent",
        {"Accounts": [_acct("100000000001"), _acct("100000000002", "SUSPENDED")]},
        {"ParentId": "ou-ab12-aaaaaaaa", "MaxResults": 20},
    )
    stub.add_response(
        "list_organizational_units_for_parent",
        {"OrganizationalUnits": []},
        {"ParentId": "ou-ab12-bbbbbbbb", "MaxResults": 20},
    )
    stub.add_response(
        "list_accounts_for_parent", {"Accounts": []}, {"ParentId": "ou-ab12-bbbbbbbb", "MaxResults": 20}
    )
    sleeps: list[float] = []
    with stub:
        tree = read_org(client, Backoff(sleep=sleeps.append))
    stub.assert_no_pending_responses()
    assert len(sleeps) == 2
    assert {u.path for u in tree.units.values()} == {"Root", "Root/Workloads", "Root/Sandbox"}
    assert tree.member_accounts_under("r-ab12") == (["100000000001"], ["100000000002"])
    assert (tree.organization_id, tree.management_account_id) == ("o-abcdefghij", "111111111111")


def test_any_other_error_fails_the_whole_read() -> None:
    client, stub = stubbed()
    stub.add_response("describe_organization", ORG, {})
    stub.add_response("list_roots", ROOTS, {"MaxResults": 20})
    stub.add_client_error("list_organizational_units_for_parent", "AccessDeniedException", "not allowed", 400)
    with (
        stub,
        pytest.raises(
            OrgReadError, match="reading the organization failed: AccessDeniedException: not allowed"
        ),
    ):
        read_org(client, Backoff(sleep=lambda _s: None))


def test_throttling_that_never_ends_fails_the_read() -> None:
    client, stub = stubbed()
    for _ in range(3):
        stub.add_client_error("describe_organization", "TooManyRequestsException", http_status_code=400)
    with stub, pytest.raises(OrgReadError, match="TooManyRequestsException"):
        read_org(client, Backoff(attempts=3, sleep=lambda _s: None))


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"State": "ACTIVE"}, "ACTIVE"),
        ({"State": "PENDING_CLOSURE"}, "PENDING_CLOSURE"),
        # State replaced Status on 2026-09-09; where both appear, State is the truth.
        ({"State": "SUSPENDED", "Status": "ACTIVE"}, "SUSPENDED"),
        ({"Status": "SUSPENDED"}, "SUSPENDED"),  # an older response: Status only when State is absent
        ({}, "UNKNOWN"),  # neither: not deployable
    ],
)
def test_account_state_is_read_from_state_and_status_only_when_state_is_absent(
    fields: dict[str, str], state: str
) -> None:
    client, stub = stubbed()
    account = {k: v for k, v in _acct("100000000001").items() if k != "Status"} | fields
    stub.add_response("describe_organization", ORG, {})
    stub.add_response("list_roots", ROOTS, {"MaxResults": 20})
    stub.add_response(
        "list_organizational_units_for_parent",
        {"OrganizationalUnits": []},
        {"ParentId": "r-ab12", "MaxResults": 20},
    )
    stub.add_response(
        "list_accounts_for_parent", {"Accounts": [account]}, {"ParentId": "r-ab12", "MaxResults": 20}
    )
    with stub:
        tree = read_org(client, Backoff(sleep=lambda _s: None))
    assert tree.accounts["100000000001"].state == state
    assert tree.accounts["100000000001"].active is (state == "ACTIVE")
