"""Thin reader of the live StackSets and the management stack, turned into the planner's records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from pipeline.aws.retry import Backoff, call_with_backoff, error_code, paginate
from pipeline.core.live import LiveInstance, LiveStack, LiveStackSet

RUNNING_STATES = frozenset({"RUNNING", "QUEUED", "STOPPING"})
MISSING = "MISSING"


def _call_as(call_as: str) -> dict[str, str]:
    return {"CallAs": call_as}


def list_stackset_names(cfn: Any, call_as: str, backoff: Backoff) -> list[str]:
    """Names of the ACTIVE StackSets this account (or delegated administrator) administers."""
    summaries = paginate(
        cfn, "list_stack_sets", "Summaries", backoff, {"Status": "ACTIVE", **_call_as(call_as)}
    )
    return sorted(s["StackSetName"] for s in summaries)


def describe_stackset(cfn: Any, name: str, call_as: str, backoff: Backoff) -> LiveStackSet | None:
    try:
        s = call_with_backoff(cfn.describe_stack_set, backoff, StackSetName=name, **_call_as(call_as))[
            "StackSet"
        ]
    except Exception as exc:
        if error_code(exc) == "StackSetNotFoundException":
            return None
        raise
    auto = s.get("AutoDeployment")
    body = s.get("TemplateBody", "")
    return LiveStackSet(
        name=s["StackSetName"],
        permission_model=s.get("PermissionModel", "SELF_MANAGED"),
        template_sha256=hashlib.sha256(body.encode("utf-8")).hexdigest(),
        description=s.get("Description", ""),
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in s.get("Parameters", [])},
        capabilities=tuple(sorted(s.get("Capabilities", []))),
        tags={t["Key"]: t["Value"] for t in s.get("Tags", [])},
        ou_ids=tuple(sorted(s.get("OrganizationalUnitIds", []))),
        regions=tuple(sorted(s.get("Regions", []))),
        auto_deployment=(bool(auto.get("Enabled")), bool(auto.get("RetainStacksOnAccountRemoval")))
        if auto
        else None,
        administration_role_arn=s.get("AdministrationRoleARN"),
        execution_role_name=s.get("ExecutionRoleName"),
        status=s.get("Status", "ACTIVE"),
        template_body=body,
    )


def operation_state(cfn: Any, name: str, operation_id: str, call_as: str, backoff: Backoff) -> str:
    """How the operation named in the StackSet's hash tag stands: SUCCEEDED (with no failed stack
    instance), RUNNING, FAILED (or succeeded with failed instances, or stopped) or MISSING. One
    DescribeStackSetOperation of that id, never the "latest" entry of ListStackSetOperations, whose order
    the documentation does not specify
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackSetOperations.html).

    Needed because the hash tag alone cannot prove it: UpdateStackSet keeps its changes, the tag included,
    even when its operation fails
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackSet.html).
    """
    try:
        op = call_with_backoff(
            cfn.describe_stack_set_operation,
            backoff,
            StackSetName=name,
            OperationId=operation_id,
            **_call_as(call_as),
        )["StackSetOperation"]
    except Exception as exc:
        if error_code(exc) == "OperationNotFoundException":
            return MISSING
        raise
    status = str(op.get("Status", ""))
    if status in RUNNING_STATES:
        return "RUNNING"
    failed = int(op.get("StatusDetails", {}).get("FailedStackInstancesCount", 0) or 0)
    return "SUCCEEDED" if status == "SUCCEEDED" and not failed else "FAILED"


# Detailed statuses of an instance left broken by any operation, AutoDeployment's included
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceComprehensiveStatus.html).
UNHEALTHY = ("FAILED", "INOPERABLE", "CANCELLED")


def unhealthy_statuses(cfn: Any, name: str, call_as: str, backoff: Backoff) -> tuple[str, ...]:
    """The first of UNHEALTHY that some instance has, or (): one ListStackInstances per status, each
    filtered by DETAILED_STATUS and one result long, so the cost is bounded whatever the StackSet's size.

    A StackInstanceFilter takes one value (Values is a single string), and the documentation does not say
    whether a repeated filter name widens or narrows the result
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceFilter.html), so
    each status gets its own call, which is right under either reading.
    """
    for status in UNHEALTHY:
        page = call_with_backoff(
            cfn.list_stack_instances,
            backoff,
            StackSetName=name,
            Filters=[{"Name": "DETAILED_STATUS", "Values": status}],
            MaxResults=1,
            **_call_as(call_as),
        )
        if page.get("Summaries"):
            return (status,)
    return ()


def _instance_pages(cfn: Any, name: str, call_as: str, backoff: Backoff) -> Iterator[dict[str, Any]]:
    return paginate(
        cfn,
        "list_stack_instances",
        "Summaries",
        backoff,
        {"StackSetName": name, **_call_as(call_as)},
        page_size=100,
    )


def list_instances(cfn: Any, name: str, call_as: str, backoff: Backoff) -> tuple[LiveInstance, ...]:
    return tuple(
        sorted(
            (
                LiveInstance(
                    account=i["Account"],
                    region=i["Region"],
                    ou_id=i.get("OrganizationalUnitId"),
                    status=i.get("Status", "CURRENT"),
                    detailed_status=i.get("StackInstanceStatus", {}).get("DetailedStatus", ""),
                    reason=i.get("StatusReason", ""),
                )
                for i in _instance_pages(cfn, name, call_as, backoff)
            ),
            key=lambda i: (i.account, i.region),
        )
    )


def accounts_with_instances(
    cfn: Any, name: str, accounts: tuple[str, ...], call_as: str, backoff: Backoff
) -> tuple[str, ...]:
    """Which of these accounts hold an instance: one ListStackInstances per account (StackInstanceAccount)."""
    found = []
    for account in accounts:
        page = call_with_backoff(
            cfn.list_stack_instances,
            backoff,
            StackSetName=name,
            StackInstanceAccount=account,
            **_call_as(call_as),
        )
        if page.get("Summaries"):
            found.append(account)
    return tuple(found)


def describe_stack(cfn: Any, name: str, backoff: Backoff) -> LiveStack | None:
    try:
        stacks = call_with_backoff(cfn.describe_stacks, backoff, StackName=name)["Stacks"]
    except Exception as exc:
        # DescribeStacks reports a missing stack as a ValidationError ("Stack with id X does not exist").
        if error_code(exc) == "ValidationError":
            return None
        raise
    s = stacks[0]
    return LiveStack(s["StackName"], s["StackStatus"], {t["Key"]: t["Value"] for t in s.get("Tags", [])})
