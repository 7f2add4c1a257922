"""StackSet drift detection (thin adapter): DetectStackSetDrift on every role StackSet, wait, then read the
drift of each instance and, for drifted ones, of each resource; builds a pipeline.core.drift.DriftReport.

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
from pipeline.core.drift import Difference, DriftReport, InstanceDrift, ResourceDrift, StackSetDrift
from pipeline.core.manifest import Kind, Manifest
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


def _resource_rows(cf: Any, params: dict[str, Any], backoff: Backoff) -> Iterator[dict[str, Any]]:
    # botocore ships no paginator for ListStackInstanceResourceDrifts: a NextToken loop.
    token: str | None = None
    while True:
        page = call_with_backoff(
            cf.list_stack_instance_resource_drifts,
            backoff,
            **params,
            **({"NextToken": token} if token else {}),
        )
        yield from page.get("Summaries", [])
        token = page.get("NextToken")
        if not token:
            return


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
    for row in _resource_rows(cf, params, backoff):
        diffs = tuple(
            Difference(
                d["PropertyPath"], d["DifferenceType"], d.get("ExpectedValue", ""), d.get("ActualValue", "")
            )
            for d in row.get("PropertyDifferences") or []
        )
        yield ResourceDrift(
            row["LogicalResourceId"],
            row.get("PhysicalResourceId", ""),
            row["ResourceType"],
            row["StackResourceDriftStatus"],
            diffs,
        )


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
) -> tuple[StackSetDrift, list[InstanceDrift]]:
    started = _start(cf, name, call_as, op_id, poll, backoff)
    op = _wait(cf, name, call_as, started, poll, backoff, out_of_time)
    if op["Status"] not in DONE:
        return StackSetDrift(name, started, op["Status"], UNFINISHED), []
    result = StackSetDrift(name, started, op["Status"], op.get("StatusReason", ""))
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
            )
        except Exception as exc:
            if error_code(exc) == "StackSetNotFoundException":
                return StackSetDrift(spec.name, "", "SKIPPED", "the StackSet does not exist yet"), []
            raise

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="drift") as pool:
        done = list(pool.map(one, specs))
    stacksets = tuple(s for s, _ in done)
    instances = tuple(i for _, found in done for i in found)
    return DriftReport(stacksets, instances)
