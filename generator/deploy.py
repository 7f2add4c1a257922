"""Deploy a rendered template as a stack through a change set: create or update, show, confirm, watch.

A thin adapter: every AWS call goes through the CloudFormation client passed in; the CLI builds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from generator.errors import GeneratorError
from pipeline.core import limits

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
TERMINAL_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
TERMINAL_FAILED = {
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "DELETE_COMPLETE",
    "DELETE_FAILED",
    "UPDATE_FAILED",
    "IMPORT_ROLLBACK_COMPLETE",
}


class DeployError(GeneratorError):
    """The stack could not be deployed; exit code 1 (the input was fine, AWS said no)."""

    exit_code = 1


@dataclass(frozen=True)
class Change:
    action: str
    logical_id: str
    resource_type: str
    replacement: str

    def __str__(self) -> str:
        replace = f" (replacement: {self.replacement})" if self.replacement not in ("", "False") else ""
        return f"{self.action:<7} {self.logical_id} {self.resource_type}{replace}"


@dataclass(frozen=True)
class Outcome:
    stack: str
    status: str  # NO_CHANGES | EXECUTED | DECLINED
    changes: tuple[Change, ...] = ()


def template_parameters(body: str) -> dict[str, Any]:
    class _Loader(yaml.SafeLoader):
        pass

    # CloudFormation short-form tags (!Ref, !Sub...) are not used by our renderer, but tolerate them.
    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    data = yaml.load(body, Loader=_Loader) or {}
    params = data.get("Parameters") or {}
    return params if isinstance(params, dict) else {}


def parameter_list(body: str, given: Mapping[str, str], existing: set[str] | None) -> list[dict[str, Any]]:
    """CloudFormation Parameters: given values; on update, previous values for the rest."""
    declared = template_parameters(body)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise GeneratorError(f"the template has no parameter {', '.join(unknown)}")
    out: list[dict[str, Any]] = []
    missing = []
    for name, spec in sorted(declared.items()):
        if name in given:
            out.append({"ParameterKey": name, "ParameterValue": given[name]})
        elif existing is not None and name in existing:
            out.append({"ParameterKey": name, "UsePreviousValue": True})
        elif not isinstance(spec, dict) or "Default" not in spec:
            missing.append(name)
    if missing:
        raise GeneratorError(
            f"parameters without a default need a value: --parameter {'=... --parameter '.join(missing)}=..."
        )
    return out


def _stack(cfn: Any, name: str) -> dict[str, Any] | None:
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except cfn.exceptions.ClientError as exc:
        # DescribeStacks answers ValidationError for a stack that does not exist.
        if exc.response["Error"]["Code"] == "ValidationError":
            return None
        raise
    return stacks[0] if stacks else None


def change_set_name(body: str, parameters: Sequence[Mapping[str, Any]]) -> str:
    digest = hashlib.sha256(
        (body + repr(sorted(map(sorted, (p.items() for p in parameters))))).encode()
    ).hexdigest()
    return f"deploy-{digest[:16]}"


def deploy(
    cfn: Any,
    stack_name: str,
    body: str,
    given: Mapping[str, str],
    confirm: Callable[[Sequence[Change]], bool],
    progress: Callable[[str], None],
    poll_seconds: float = 2.0,
    timeout_seconds: float = 3600.0,
    tags: Mapping[str, str] | None = None,
    waiting: Callable[[str], None] = lambda _status: None,
) -> Outcome:
    """Create a change set, confirm it, execute it and wait for the stack; `progress` gets each new stack
    event, `waiting` the status at each poll that finds the change set or the stack still in progress."""
    if len(body.encode()) > limits.TEMPLATE_BODY_BYTES:
        raise GeneratorError(
            f"the template is {len(body.encode())} bytes, over the {limits.TEMPLATE_BODY_BYTES}-byte TemplateBody limit"
        )
    stack = _stack(cfn, stack_name)
    # A stack left in REVIEW_IN_PROGRESS by a create change set that was never executed is created again.
    creating = stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS"
    existing = (
        None if creating else {p["ParameterKey"] for p in stack.get("Parameters", [])} if stack else None
    )
    parameters = parameter_list(body, given, existing)
    name = change_set_name(body, parameters)
    if stack is not None:  # a change set of this name left over from an interrupted run is replaced
        listed = cfn.list_change_sets(StackName=stack_name).get("Summaries", [])
        if any(c["ChangeSetName"] == name for c in listed):
            cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
    try:
        cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName=name,
            ChangeSetType="CREATE" if creating else "UPDATE",
            TemplateBody=body,
            Parameters=parameters,
            Capabilities=CAPABILITIES,
            Tags=[{"Key": k, "Value": v} for k, v in sorted((tags or {}).items())],
        )
    except cfn.exceptions.ClientError as exc:
        # Some CloudFormation implementations (moto) refuse an unchanged update at CreateChangeSet
        # instead of failing the change set; both mean "nothing to deploy".
        if exc.response["Error"]["Code"] == "ValidationError" and "No updates" in str(exc):
            return Outcome(stack_name, "NO_CHANGES")
        raise
    executed = False
    try:
        outcome = _review(cfn, stack_name, name, confirm, poll_seconds, timeout_seconds, waiting)
        if outcome.status != "EXECUTED":
            return outcome
        started = time.time()
        cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
        executed = True
    finally:
        # A failed, empty, declined or interrupted change set, or one that failed to execute, is deleted:
        # none is left behind for someone to execute by mistake. (An executed one CloudFormation removes.)
        if not executed:
            _discard(cfn, stack_name, name)
    _wait_stack(cfn, stack_name, started, (progress, waiting), poll_seconds, timeout_seconds)
    return outcome


def _review(
    cfn: Any,
    stack_name: str,
    name: str,
    confirm: Callable[[Sequence[Change]], bool],
    poll_seconds: float,
    timeout_seconds: float,
    waiting: Callable[[str], None],
) -> Outcome:
    """Wait for the change set, then: NO_CHANGES, DECLINED, or EXECUTED meaning "to execute"."""
    described = _wait_change_set(cfn, stack_name, name, poll_seconds, timeout_seconds, waiting)
    changes = tuple(
        Change(
            c["ResourceChange"].get("Action", ""),
            c["ResourceChange"].get("LogicalResourceId", ""),
            c["ResourceChange"].get("ResourceType", ""),
            str(c["ResourceChange"].get("Replacement", "")),
        )
        for c in described.get("Changes", [])
        if "ResourceChange" in c
    )
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        # CloudFormation reports "nothing to change" only as a FAILED change set with this reason text.
        if not changes and ("didn't contain changes" in reason or "No updates" in reason):
            return Outcome(stack_name, "NO_CHANGES")
        raise DeployError(f"change set for {stack_name} failed: {reason}")
    if not confirm(changes):
        return Outcome(stack_name, "DECLINED", changes)
    return Outcome(stack_name, "EXECUTED", changes)


def _discard(cfn: Any, stack_name: str, name: str) -> None:
    """Delete the change set; a failure to do so must not hide the error that brought us here."""
    with contextlib.suppress(Exception):
        cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)


def _wait_change_set(
    cfn: Any, stack: str, name: str, poll: float, timeout: float, waiting: Callable[[str], None]
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return described
        if time.monotonic() > deadline:
            raise DeployError(
                f"change set {name} for {stack} still {described['Status']} after {timeout:.0f} s"
            )
        waiting(f"change set {described['Status']}")
        time.sleep(poll)


def _wait_stack(
    cfn: Any,
    stack: str,
    started: float,
    report: tuple[Callable[[str], None], Callable[[str], None]],
    poll: float,
    timeout: float,
) -> None:
    progress, waiting = report
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
        fresh = [
            e
            for e in reversed(events)
            if e["EventId"] not in seen and e["Timestamp"].timestamp() >= started - 1
        ]
        for e in fresh:
            seen.add(e["EventId"])
            reason = f": {e['ResourceStatusReason']}" if e.get("ResourceStatusReason") else ""
            progress(f"{e['LogicalResourceId']} {e['ResourceStatus']}{reason}")
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if status in TERMINAL_OK:
            return
        if status in TERMINAL_FAILED:
            failures = [
                f"{e['LogicalResourceId']} ({e.get('ResourceType', '')}): {e.get('ResourceStatusReason', 'no reason given')}"
                for e in reversed(events)
                if e["ResourceStatus"].endswith("_FAILED") and e["EventId"] in seen
            ]
            detail = "; ".join(failures) or "no failed resource reported"
            raise DeployError(f"stack {stack} ended {status}: {detail}")
        if time.monotonic() > deadline:
            raise DeployError(f"stack {stack} still {status} after {timeout:.0f} s")
        waiting(status)
        time.sleep(poll)
