"""Drift detection (thin adapter): DetectStackSetDrift on every role StackSet, wait, then read the drift of
each instance and, for drifted ones, of each resource; DetectStackDrift on the management-account stack;
builds a pipeline.core.drift.DriftReport.

AWS behaviour relied on (CloudFormation API Reference, https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/):
- DetectStackSetDrift returns an OperationId to follow with DescribeStackSetOperation, and only one drift
  detection operation runs on a StackSet at a time; like every StackSet operation it is refused with
  OperationInProgressException while another one runs (API_DetectStackSetDrift, "Errors"), which is waited
  out, as the executor does.
- ListStackInstances returns each instance's DriftStatus (DRIFTED | IN_SYNC | UNKNOWN | NOT_CHECKED,
  API_StackInstanceSummary).
- ListStackInstanceResourceDrifts needs the OperationId, account and region, and returns per resource its
  StackResourceDriftStatus and PropertyDifferences (PropertyPath, ExpectedValue, ActualValue,
  DifferenceType ADD | REMOVE | NOT_EQUAL) (API_ListStackInstanceResourceDrifts, API_PropertyDifference).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipeline.aws.retry import Backoff, PollPolicy, call_with_backoff, error_code, paginate
from pipeline.aws.stacksets import describe_stackset
from pipeline.core.drift import (
    MANAGEMENT_OU,
    Difference,
    DriftReport,
    InstanceDrift,
    ResourceDrift,
    StackSetDrift,
)
from pipeline.core.manifest import Kind, ManagementStackSpec, Manifest
from pipeline.core.org import OrgTree

DONE = ("SUCCEEDED", "FAILED", "STOPPED")
Deadline = Callable[[], bool]  # True once the caller's time is up (the Lambda's remaining time)
UNFINISHED = "the check's time ran out before drift detection finished; it goes on in CloudFormation"


def _start(cf: Any, name: str, call_as: str, op_id: str, poll: PollPolicy, backoff: Backoff) -> str:
    """DetectStackSetDrift, waiting out another operation on the StackSet (OperationInProgressException)."""
    for delay in poll.delays():
        try:
            out = call_with_backoff(
                cf.detect_stack_set_drift, backoff, StackSetName=name, OperationId=op_id, CallAs=call_as
            )
            return str(out["OperationId"])
        except Exception as exc:
            code = error_code(exc)
            if code == "OperationIdAlreadyExistsException":
                return op_id  # a retried call already started it
            if code != "OperationInProgressException":
                raise
        poll.sleep(delay)
    raise TimeoutError(f"{name}: another operation was still running after {poll.max_polls} polls")


def _wait(
    cf: Any, name: str, call_as: str, op_id: str, poll: PollPolicy, backoff: Backoff, out_of_time: Deadline
) -> dict[str, Any]:
    """The finished operation; when time is up first, the running one (its Status not in DONE)."""
    for delay in poll.delays():
        op = call_with_backoff(
            cf.describe_stack_set_operation, backoff, StackSetName=name, OperationId=op_id, CallAs=call_as
        )["StackSetOperation"]
        if op["Status"] in DONE or out_of_time():
            return dict(op)
        poll.sleep(delay)
    raise TimeoutError(f"{name}: drift detection {op_id} still running after {poll.max_polls} polls")


def _token_pages(
    method: Callable[..., Any], key: str, params: dict[str, Any], backoff: Backoff
) -> Iterator[dict[str, Any]]:
    # botocore ships no paginator for ListStackInstanceResourceDrifts or DescribeStackResourceDrifts: a
    # NextToken loop.
    token: str | None = None
    while True:
        page = call_with_backoff(method, backoff, **params, **({"NextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return


def _resource(row: dict[str, Any]) -> ResourceDrift:
    """A StackInstanceResourceDriftsSummary or StackResourceDrift row (the same fields for what is read)."""
    diffs = tuple(
        Difference(
            d["PropertyPath"], d["DifferenceType"], d.get("ExpectedValue", ""), d.get("ActualValue", "")
        )
        for d in row.get("PropertyDifferences") or []
    )
    return ResourceDrift(
        row["LogicalResourceId"],
        row.get("PhysicalResourceId", ""),
        row["ResourceType"],
        row["StackResourceDriftStatus"],
        diffs,
    )


def _resource_drifts(
    cf: Any, name: str, call_as: str, op_id: str, inst: dict[str, Any], backoff: Backoff
) -> Iterator[ResourceDrift]:
    params = {
        "StackSetName": name,
        "OperationId": op_id,
        "StackInstanceAccount": inst["Account"],
        "StackInstanceRegion": inst["Region"],
        "CallAs": call_as,
    }
    for row in _token_pages(cf.list_stack_instance_resource_drifts, "Summaries", params, backoff):
        yield _resource(row)


def detect_stackset(
    cf: Any,
    name: str,
    role: str,
    org: OrgTree,
    *,
    call_as: str,
    op_id: str,
    poll: PollPolicy,
    backoff: Backoff,
    out_of_time: Deadline = lambda: False,
    desired_sha256: str = "",
) -> tuple[StackSetDrift, list[InstanceDrift]]:
    started = _start(cf, name, call_as, op_id, poll, backoff)
    op = _wait(cf, name, call_as, started, poll, backoff, out_of_time)
    if op["Status"] not in DONE:
        return StackSetDrift(name, started, op["Status"], UNFINISHED), []
    deployed = describe_stackset(cf, name, call_as, backoff)
    result = StackSetDrift(
        name,
        started,
        op["Status"],
        op.get("StatusReason", ""),
        desired_sha256,
        deployed.template_sha256 if deployed else "",
    )
    instances = []
    rows = paginate(
        cf, "list_stack_instances", "Summaries", backoff, {"StackSetName": name, "CallAs": call_as}
    )
    for inst in rows:
        status = inst.get("DriftStatus", "NOT_CHECKED")
        resources = (
            tuple(_resource_drifts(cf, name, call_as, started, inst, backoff)) if status == "DRIFTED" else ()
        )
        account = org.accounts.get(inst["Account"])
        ou_path = org.units[account.parent_id].path if account and account.parent_id in org.units else "?"
        instances.append(
            InstanceDrift(name, role, ou_path, inst["Account"], inst["Region"], status, resources)
        )
    return result, instances


# DescribeStackDriftDetectionStatus DetectionStatus -> the report's operation status. DETECTION_FAILED means
# "failed for at least one resource in the stack. Results will be available for resources on which
# CloudFormation successfully completed drift detection" (API_DescribeStackDriftDetectionStatus), so its
# resource drifts are read too.
STACK_DETECTION = {"DETECTION_COMPLETE": "SUCCEEDED", "DETECTION_FAILED": "FAILED"}
# StackResourceDriftStatus -> the drift of the role it is (API_StackResourceDrift).
RESOURCE_DRIFT = {"IN_SYNC": "IN_SYNC", "MODIFIED": "DRIFTED", "DELETED": "DRIFTED"}


def _stack_resources(cf: Any, name: str, backoff: Backoff) -> Iterator[ResourceDrift]:
    params = {"StackName": name}
    for row in _token_pages(cf.describe_stack_resource_drifts, "StackResourceDrifts", params, backoff):
        yield _resource(row)


def detect_stack(
    cf: Any,
    spec: ManagementStackSpec,
    account: str,
    *,
    poll: PollPolicy,
    backoff: Backoff,
    out_of_time: Deadline = lambda: False,
) -> tuple[StackSetDrift, list[InstanceDrift]]:
    """Stack drift detection on the management-account stack (DetectStackDrift, then
    DescribeStackDriftDetectionStatus until it ends, then DescribeStackResourceDrifts: API Reference pages of
    those names); each of its resources becomes one row under MANAGEMENT_OU, named by its physical id (the
    role name). A stack that does not exist here (ValidationError) is skipped."""
    try:
        detection = str(
            call_with_backoff(cf.detect_stack_drift, backoff, StackName=spec.name)["StackDriftDetectionId"]
        )
    except Exception as exc:
        if error_code(exc) == "ValidationError":
            return StackSetDrift(spec.name, "", "SKIPPED", "the stack does not exist in this account"), []
        raise
    status: dict[str, Any] = {}
    for delay in poll.delays():
        status = call_with_backoff(
            cf.describe_stack_drift_detection_status, backoff, StackDriftDetectionId=detection
        )
        if status["DetectionStatus"] in STACK_DETECTION or out_of_time():
            break
        poll.sleep(delay)
    ended = STACK_DETECTION.get(status.get("DetectionStatus", ""))
    if ended is None:
        return StackSetDrift(spec.name, detection, "RUNNING", UNFINISHED), []
    result = StackSetDrift(spec.name, detection, ended, status.get("DetectionStatusReason", ""))
    rows = [
        InstanceDrift(
            spec.name,
            res.physical_id or res.logical_id,
            MANAGEMENT_OU,
            account,
            spec.region,
            RESOURCE_DRIFT.get(res.status, res.status),
            (res,),
        )
        for res in _stack_resources(cf, spec.name, backoff)
    ]
    return result, rows


def detect_all(
    cf: Any,
    manifest: Manifest,
    org: OrgTree,
    *,
    run_id: str,
    poll: PollPolicy,
    backoff: Backoff,
    on_event: Callable[[str], None] = lambda _m: None,
    workers: int = 8,
    out_of_time: Deadline = lambda: False,
) -> DriftReport:
    """Drift detection on every role StackSet of the manifest, StackSets in parallel (each one waits for
    its own operation); a StackSet that does not exist yet is skipped."""
    call_as = manifest.org.call_as.value
    specs = [s for s in manifest.stacksets if s.kind == Kind.ROLE]

    def one(spec: Any) -> tuple[StackSetDrift, list[InstanceDrift]]:
        try:
            on_event(f"{spec.name}: detecting drift")
            return detect_stackset(
                cf,
                spec.name,
                spec.role or spec.name,
                org,
                call_as=call_as,
                op_id=f"{run_id}-drift"[:128],
                poll=poll,
                backoff=backoff,
                out_of_time=out_of_time,
                desired_sha256=spec.template_sha256,
            )
        except Exception as exc:
            if error_code(exc) == "StackSetNotFoundException":
                return StackSetDrift(spec.name, "", "SKIPPED", "the StackSet does not exist yet"), []
            raise

    def management() -> tuple[StackSetDrift, list[InstanceDrift]]:
        assert manifest.management_account_stack is not None
        on_event(f"{manifest.management_account_stack.name}: detecting stack drift")
        return detect_stack(
            cf,
            manifest.management_account_stack,
            manifest.org.management_account_id,
            poll=poll,
            backoff=backoff,
            out_of_time=out_of_time,
        )

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="drift") as pool:
        stack = pool.submit(management) if manifest.management_account_stack is not None else None
        done = list(pool.map(one, specs))
        checked = [stack.result()] if stack is not None else []
    stacksets = tuple(s for s, _ in done)
    instances = tuple(i for _, found in [*done, *checked] for i in found)
    return DriftReport(stacksets, instances, tuple(s for s, _ in checked))
