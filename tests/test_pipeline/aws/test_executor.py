"""The executor against exact CloudFormation call shapes (botocore Stubber): waiting out another
operation that holds a StackSet, within the invocation's time budget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pipeline.aws.executor import Executor
from pipeline.aws.retry import Backoff
from pipeline.cli.files import load_manifest
from pipeline.core.ops import CreateInstances
from pipeline.core.outcomes import PENDING, SUCCEEDED
from pipeline.core.planner import StackSetPlan
from pipeline.sync import apply_plan, plan_sync, poll_pending
from tests.support.sync import FIXTURE, NO_WAIT

NAME = "org-roles-Developer"
OP = CreateInstances(
    stackset=NAME,
    regions=("us-east-1",),
    ou_ids=("ou-root-workloads",),
    accounts=(),
    account_filter="NONE",
    paths=("Root/Workloads",),
)
WHEN = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("cloudformation", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
    stub.assert_no_pending_responses()


def executor(client: Any, budget: list[int]) -> Executor:
    """An executor whose invocation runs out of time after len(budget) checks of the clock."""

    def out_of_time() -> bool:
        if budget:
            budget.pop()
            return False
        return True

    return Executor(
        cfn=client,
        manifest=load_manifest(FIXTURE / "manifest.json"),
        templates={},
        run_id="run-1",
        backoff=Backoff(sleep=lambda _s: None),
        poll=NO_WAIT,
        out_of_time=out_of_time,
    )


def in_progress(stub: Stubber, ex: Executor) -> None:
    stub.add_client_error(
        "create_stack_instances",
        service_error_code="OperationInProgressException",
        service_message="Another Operation on StackSet is in progress",
        http_status_code=409,
        expected_params={
            "StackSetName": NAME,
            "CallAs": "SELF",
            "DeploymentTargets": {"OrganizationalUnitIds": ["ou-root-workloads"]},
            "Regions": ["us-east-1"],
            "OperationPreferences": ex._preferences(),
            "OperationId": ex.operation_id(OP),
        },
    )


def summary(op_id: str, status: str) -> dict[str, Any]:
    return {"OperationId": op_id, "Action": "UPDATE", "Status": status, "CreationTimestamp": WHEN}


def test_in_progress_with_nothing_listed_running_stops_when_the_time_is_up(
    stubbed: tuple[Any, Stubber],
) -> None:
    """AWS keeps refusing (OperationInProgressException) while ListStackSetOperations shows nothing
    running (it lags): the lane is carried to the next invocation once out_of_time says so, instead of
    sleeping and retrying until the Lambda is killed."""
    client, stub = stubbed
    ex = executor(client, budget=[1, 1])
    listing = {"StackSetName": NAME, "CallAs": "SELF"}
    for _ in range(3):
        in_progress(stub, ex)
        stub.add_response(
            "list_stack_set_operations",
            {"Summaries": [summary("done-1", "SUCCEEDED")]},
            listing,
        )
    lane = ex.run_lane(StackSetPlan(NAME, "role", "update", (OP,)))
    assert (lane.status, lane.pending_operation) == (PENDING, f"busy:{ex.operation_id(OP)}")


def test_operations_in_progress_are_found_on_later_pages(stubbed: tuple[Any, Stubber]) -> None:
    """The operation holding the StackSet is on the second page of ListStackSetOperations: it is waited
    out, then ours starts."""
    client, stub = stubbed
    ex = executor(client, budget=[1] * 10)
    listing = {"StackSetName": NAME, "CallAs": "SELF"}
    in_progress(stub, ex)
    stub.add_response(
        "list_stack_set_operations",
        {"Summaries": [summary("done-1", "SUCCEEDED")], "NextToken": "page-2"},
        listing,
    )
    stub.add_response(
        "list_stack_set_operations",
        {"Summaries": [summary("other-1", "RUNNING")]},
        listing | {"NextToken": "page-2"},
    )
    described = {"StackSetName": NAME, "OperationId": "other-1", "CallAs": "SELF"}
    stub.add_response(
        "describe_stack_set_operation",
        {"StackSetOperation": {"OperationId": "other-1", "Status": "RUNNING"}},
        described,
    )
    stub.add_response(
        "describe_stack_set_operation",
        {"StackSetOperation": {"OperationId": "other-1", "Status": "SUCCEEDED"}},
        described,
    )
    ours = ex.operation_id(OP)
    stub.add_response("create_stack_instances", {"OperationId": ours})
    stub.add_response(
        "describe_stack_set_operation",
        {"StackSetOperation": {"OperationId": ours, "Status": "SUCCEEDED"}},
        {"StackSetName": NAME, "OperationId": ours, "CallAs": "SELF"},
    )
    lane = ex.run_lane(StackSetPlan(NAME, "role", "update", (OP,)))
    assert (lane.status, [o.status for o in lane.outcomes]) == (SUCCEEDED, [SUCCEEDED])


def test_a_busy_stackset_carried_over_is_retried_by_the_next_plan_not_polled(make_world: Any) -> None:
    """A lane carried over before its operation started names no operation: the next invocation goes
    straight to planning (one DescribeStackSetOperation of a made-up id would fail the job)."""
    world = make_world()
    world.sync()
    session = world.session("run-2")
    calls = len(world.service.calls)
    assert poll_pending(session, {NAME: "busy:0b7f5c1e-0000-5000-8000-000000000000"}) == ({}, {})
    assert world.service.calls[calls:] == []


def test_every_operation_of_the_plan_ends_with_one_ended_event(make_world: Any) -> None:
    """What `sync`'s progress line counts: one `ended` event per operation of the plan, in its lane."""
    world = make_world()
    session = world.session("run-1")
    plan = plan_sync(session)
    apply_plan(session, plan)
    ended = sorted((e.stackset, e.message) for e in world.events if e.ended)
    assert ended == sorted((op.stackset, f"{op.describe()}: succeeded") for op in plan.ops)
    assert len(ended) > 1
