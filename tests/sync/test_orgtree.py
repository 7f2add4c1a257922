"""The org reader against exact Organizations call shapes (botocore Stubber), and pure OU resolution."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pipeline.aws.organizations import read_org
from pipeline.aws.retry import Backoff
from pipeline.core.errors import OrgReadError
from pipeline.core.org import EMPTY, MISSING, OK, RENAMED, Account, OrgTree, OrgUnit, resolve_ou

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
        tree = read_org(client, Backoff(sleep=sleeps.append), workers=1)
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
        read_org(client, Backoff(sleep=lambda _s: None), workers=1)


def test_throttling_that_never_ends_fails_the_read() -> None:
    client, stub = stubbed()
    for _ in range(3):
        stub.add_client_error("describe_organization", "TooManyRequestsException", http_status_code=400)
    with stub, pytest.raises(OrgReadError, match="TooManyRequestsException"):
        read_org(client, Backoff(attempts=3, sleep=lambda _s: None), workers=1)


TREE = OrgTree(
    "o-abcdefghij",
    "111111111111",
    "r-ab12",
    {
        "r-ab12": OrgUnit("r-ab12", "Root", None, "Root"),
        "ou-ab12-aaaaaaaa": OrgUnit("ou-ab12-aaaaaaaa", "Workloads", "r-ab12", "Root/Workloads"),
        "ou-ab12-cccccccc": OrgUnit(
            "ou-ab12-cccccccc", "Production", "ou-ab12-aaaaaaaa", "Root/Workloads/Production"
        ),
        "ou-ab12-bbbbbbbb": OrgUnit("ou-ab12-bbbbbbbb", "Sandbox", "r-ab12", "Root/Sandbox"),
    },
    {
        "111111111111": Account("111111111111", "m", "r-ab12"),
        "100000000001": Account("100000000001", "a", "ou-ab12-cccccccc"),
        "100000000002": Account("100000000002", "b", "ou-ab12-bbbbbbbb", "SUSPENDED"),
    },
)


@pytest.mark.parametrize(
    ("path", "pin", "state", "ou_id", "message"),
    [
        ("Root", None, OK, "r-ab12", "1 suspended account(s) skipped"),
        ("Root/Workloads", None, OK, "ou-ab12-aaaaaaaa", ""),
        (
            "Root/Workloads/Prod",
            "ou-ab12-cccccccc",
            RENAMED,
            "ou-ab12-cccccccc",
            "pinned id ou-ab12-cccccccc is now at Root/Workloads/Production (renamed or moved)",
        ),
        ("Root/Workloads/Prod", None, MISSING, None, "no OU at this path in the organization yet"),
        (
            "Root/Gone",
            "ou-ab12-dddddddd",
            MISSING,
            None,
            "pinned id ou-ab12-dddddddd does not exist in the organization",
        ),
        (
            "Root/Sandbox",
            None,
            EMPTY,
            "ou-ab12-bbbbbbbb",
            "no active member accounts in this OU or below; 1 suspended account(s) skipped",
        ),
    ],
)
def test_resolution(path: str, pin: str | None, state: str, ou_id: str | None, message: str) -> None:
    status = resolve_ou(path, pin, TREE)
    assert (status.state, status.ou_id, status.message) == (state, ou_id, message)


def test_management_account_is_never_a_member() -> None:
    assert TREE.member_accounts_under("r-ab12") == (["100000000001"], ["100000000002"])
