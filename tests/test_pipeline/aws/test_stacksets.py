"""The StackSet reader against exact CloudFormation call shapes (botocore Stubber): the operation a hash tag
names, found by id, and the instances' health, one detailed status per filtered call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pipeline.aws.retry import Backoff
from pipeline.aws.stacksets import MISSING, operation_state, unhealthy_statuses

NAME = "org-roles-Developer"
BACKOFF = Backoff(sleep=lambda _s: None)


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield client, stub
    stub.assert_no_pending_responses()


def _operation(status: str, failed: int) -> dict[str, Any]:
    return {
        "StackSetOperation": {
            "OperationId": "op-1",
            "Status": status,
            "StatusDetails": {"FailedStackInstancesCount": failed},
        }
    }


@pytest.mark.parametrize(
    ("status", "failed", "expected"),
    [
        ("SUCCEEDED", 0, "SUCCEEDED"),
        # Soft failure tolerance: the operation succeeds with failed instances, which the hash cannot vouch for.
        ("SUCCEEDED", 1, "FAILED"),
        ("FAILED", 3, "FAILED"),
        ("STOPPED", 0, "FAILED"),
        ("RUNNING", 0, "RUNNING"),
        ("QUEUED", 0, "RUNNING"),
    ],
)
def test_the_operation_a_hash_names_is_described_by_id(
    stubbed: tuple[Any, Stubber], status: str, failed: int, expected: str
) -> None:
    client, stub = stubbed
    stub.add_response(
        "describe_stack_set_operation",
        _operation(status, failed),
        {"StackSetName": NAME, "OperationId": "op-1", "CallAs": "SELF"},
    )
    assert operation_state(client, NAME, "op-1", "SELF", BACKOFF) == expected


def test_an_operation_aws_does_not_know_is_missing(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    stub.add_client_error("describe_stack_set_operation", "OperationNotFoundException")
    assert operation_state(client, NAME, "op-1", "SELF", BACKOFF) == MISSING


def _filtered(status: str) -> dict[str, Any]:
    return {
        "StackSetName": NAME,
        "Filters": [{"Name": "DETAILED_STATUS", "Values": status}],
        "MaxResults": 1,
        "CallAs": "SELF",
    }


def test_health_is_asked_one_detailed_status_per_call(stubbed: tuple[Any, Stubber]) -> None:
    """FAILED, INOPERABLE, CANCELLED, each in its own call of one result: a filter takes one value."""
    client, stub = stubbed
    for status in ("FAILED", "INOPERABLE", "CANCELLED"):
        stub.add_response("list_stack_instances", {"Summaries": []}, _filtered(status))
    assert unhealthy_statuses(client, NAME, "SELF", BACKOFF) == ()


def test_health_stops_at_the_first_broken_status(stubbed: tuple[Any, Stubber]) -> None:
    """A cancelled instance (a stopped operation, or failure tolerance exceeded) is broken too; once one
    status is found the StackSet's instances are listed anyway, so no further call."""
    client, stub = stubbed
    stub.add_response("list_stack_instances", {"Summaries": []}, _filtered("FAILED"))
    stub.add_response("list_stack_instances", {"Summaries": []}, _filtered("INOPERABLE"))
    row = {"Account": "100000000000", "Region": "us-east-1", "Status": "OUTDATED"}
    stub.add_response("list_stack_instances", {"Summaries": [row]}, _filtered("CANCELLED"))
    assert unhealthy_statuses(client, NAME, "SELF", BACKOFF) == ("CANCELLED",)
