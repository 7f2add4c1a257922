"""The management-account template as a plain stack, deployed through a change set (thin adapter).

Service-managed StackSets never deploy to the management account
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html), so the roles
it needs come through this stack. Idempotent: the change set name and the execute token derive from the
operation id, and a stack already carrying the desired hash tag is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.aws.retry import Backoff, PollPolicy, call_with_backoff, error_code
from pipeline.core.manifest import HASH_TAG
from pipeline.core.ops import DeployStack


class StackPending(Exception):
    """Time is up while the stack is still changing; args[0] names what to resume."""


class StackFailed(Exception):
    """The change set or the stack update failed; the message says how."""


def caller_account(sts: Any, backoff: Backoff) -> str:
    """The account whose credentials the sync runs with (STS GetCallerIdentity)."""
    return str(call_with_backoff(sts.get_caller_identity, backoff)["Account"])


def _describe(client: Any, name: str, backoff: Backoff) -> dict[str, Any] | None:
    try:
        return dict(call_with_backoff(client.describe_stacks, backoff, StackName=name)["Stacks"][0])
    except Exception as exc:
        if error_code(exc) == "ValidationError":  # "Stack with id X does not exist"
            return None
        raise


def _settle(
    client: Any, name: str, backoff: Backoff, poll: PollPolicy, out_of_time: Callable[[], bool]
) -> dict[str, Any] | None:
    """Wait until the stack is not changing; its description then (None if it does not exist)."""
    for delay in poll.delays():
        stack = _describe(client, name, backoff)
        status = stack["StackStatus"] if stack else ""
        if not status.endswith("_IN_PROGRESS") or status == "REVIEW_IN_PROGRESS":
            return stack
        if out_of_time():
            raise StackPending(f"stack:{name}")
        poll.sleep(delay)
    raise StackFailed(f"stack {name} kept changing for {poll.max_polls} polls")


def _change_set_exists(client: Any, name: str, change_set: str, backoff: Backoff) -> bool:
    try:
        call_with_backoff(client.describe_change_set, backoff, StackName=name, ChangeSetName=change_set)
    except Exception as exc:
        # ChangeSetNotFoundException; or ValidationError when the stack itself does not exist yet.
        if error_code(exc) in ("ChangeSetNotFoundException", "ChangeSetNotFound", "ValidationError"):
            return False
        raise
    return True


def _change_set_ready(
    client: Any,
    name: str,
    change_set: str,
    backoff: Backoff,
    poll: PollPolicy,
    out_of_time: Callable[[], bool],
) -> bool:
    """Wait for the change set; False when it has no changes (such a change set fails and cannot run)."""
    for delay in poll.delays():
        cs = call_with_backoff(client.describe_change_set, backoff, StackName=name, ChangeSetName=change_set)
        status = cs.get("Status", "")
        if status == "CREATE_COMPLETE" or cs.get("ExecutionStatus") in (
            "EXECUTE_IN_PROGRESS",
            "EXECUTE_COMPLETE",
        ):
            return True
        if status == "FAILED":
            if not cs.get("Changes") and cs.get("ExecutionStatus") == "UNAVAILABLE":
                return False
            raise StackFailed(f"change set {change_set} failed: {cs.get('StatusReason', '')}")
        if out_of_time():
            raise StackPending(f"stack:{name}")
        poll.sleep(delay)
    raise StackFailed(f"change set {change_set} was not ready after {poll.max_polls} polls")


def deploy_stack(
    client: Any,
    op: DeployStack,
    body: str,
    token: str,
    backoff: Backoff,
    poll: PollPolicy,
    out_of_time: Callable[[], bool],
    emit: Callable[[str], None],
) -> str:
    name = op.stackset
    wanted = dict(op.tags).get(HASH_TAG)
    stack = _settle(client, name, backoff, poll, out_of_time)
    tags = {t["Key"]: t["Value"] for t in (stack or {}).get("Tags", [])}
    if (
        stack
        and tags.get(HASH_TAG) == wanted
        and stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    ):
        return "already up to date"
    change_set_type = "CREATE" if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS" else "UPDATE"
    change_set = f"org-stacksets-{token}"
    if _change_set_exists(client, name, change_set, backoff):
        emit(f"change set {change_set} exists already (an earlier invocation of this run)")
    else:
        call_with_backoff(
            client.create_change_set,
            backoff,
            StackName=name,
            ChangeSetName=change_set,
            ChangeSetType=change_set_type,
            TemplateBody=body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in op.parameters],
            Capabilities=list(op.capabilities),
            Tags=[{"Key": k, "Value": v} for k, v in op.tags],
            Description=f"org-stacksets sync {token}",
            # Without RoleARN the change set runs with the sync's own credentials, which hold no IAM
            # permissions (CreateChangeSet, RoleARN:
            # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html).
            RoleARN=op.role_arn,
        )
        emit(f"change set {change_set} created ({change_set_type})")
    if not _change_set_ready(client, name, change_set, backoff, poll, out_of_time):
        return "no changes"
    try:
        call_with_backoff(
            client.execute_change_set,
            backoff,
            StackName=name,
            ChangeSetName=change_set,
            ClientRequestToken=token,
        )
        emit(f"change set {change_set} executing")
    except Exception as exc:
        # Executed already by an earlier invocation of this run.
        if error_code(exc) != "InvalidChangeSetStatusException":
            raise
    stack = _settle(client, name, backoff, poll, out_of_time)
    status = stack["StackStatus"] if stack else "DELETED"
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        reason = stack.get("StackStatusReason", "") if stack else ""
        raise StackFailed(f"stack {name} ended {status} {reason}".strip())
    return f"stack {status.lower()}"
