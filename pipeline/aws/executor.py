"""Runs a plan's operations: one at a time per StackSet, every StackSet in parallel within a bound.

A thin adapter over a CloudFormation client passed in. Operation ids are uuid5(run id, StackSet, operation
key), so a retried invocation re-issues the same id and adopts the operation instead of starting another
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackInstances.html, OperationId:
"also functions as an idempotency token"). An operation someone else started is waited out, never failed
(OperationInProgressException: "Another operation is currently in progress for this stack set").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pipeline.aws.retry import Backoff, PollPolicy, call_with_backoff, describe_error, error_code, paginate
from pipeline.aws.stack import StackPending, deploy_stack
from pipeline.core.desired import sealed
from pipeline.core.manifest import HASH_TAG, Manifest, OperationPreferences
from pipeline.core.ops import (
    CommitHash,
    Content,
    CreateInstances,
    CreateStackSet,
    DeleteInstances,
    DeleteStackSet,
    DeployStack,
    Op,
    UpdateOverrides,
    UpdateStackSet,
)
from pipeline.core.outcomes import (
    BUSY_PREFIX,
    FAILED,
    PENDING,
    SUCCEEDED,
    Event,
    Failure,
    LaneResult,
    OpOutcome,
)
from pipeline.core.planner import StackSetPlan

NAMESPACE = uuid.UUID("6f1c3f7e-8b7a-4c1e-9a53-0c3d1b2e7a10")
RUNNING_STATES = frozenset({"RUNNING", "QUEUED", "STOPPING"})
# run_lane's default vouch: the id of the lane's own plan's last operation.
OWN = "own"


class _Pending(Exception):
    """The invocation's time is up while an operation runs; it is carried to the next invocation."""

    def __init__(self, operation_id: str) -> None:
        self.operation_id = operation_id
        super().__init__(operation_id)


@dataclass
class Executor:
    """Executes StackSetPlans against one CloudFormation client (the StackSet administrator's region)."""

    cfn: Any
    manifest: Manifest
    templates: Mapping[str, str]
    run_id: str
    backoff: Backoff = field(default_factory=Backoff)
    poll: PollPolicy = field(default_factory=PollPolicy)
    out_of_time: Callable[[], bool] = lambda: False
    on_event: Callable[[Event], None] = lambda _e: None
    stack_client: Callable[[str], Any] | None = None  # region -> CloudFormation client for plain stacks
    max_workers: int = 8

    # --- public --------------------------------------------------------------------------------------

    def operation_id(self, op: Op) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.run_id}/{op.stackset}/{op.key}"))

    def run(
        self,
        plans: Sequence[StackSetPlan],
        resume: Mapping[str, str] | None = None,
        vouches: Mapping[str, str | None] | None = None,
    ) -> list[LaneResult]:
        """Run every plan's operations; StackSets in parallel, each StackSet's operations in order.
        `vouches`: the vouching operation id per StackSet when `plans` are one canary wave of larger plans."""
        resume = resume or {}
        lanes = [p for p in plans if p.ops or p.name in resume]
        if not lanes:
            return []
        workers = max(1, min(self.max_workers, len(lanes)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync-lane") as pool:
            return list(
                pool.map(
                    lambda p: self.run_lane(
                        p, resume.get(p.name), vouches[p.name] if vouches and p.name in vouches else OWN
                    ),
                    lanes,
                )
            )

    def run_lane(self, plan: StackSetPlan, resume: str | None = None, vouch: str | None = OWN) -> LaneResult:
        """`vouch`: the operation id the hash tag names (OWN: this plan's last operation's)."""
        outcomes: list[OpOutcome] = []
        try:
            if resume and not resume.startswith(BUSY_PREFIX):
                self._emit(plan.name, f"resuming: waiting for operation {resume}")
                waited = self._wait(plan.name, resume, None)
                if waited.status != SUCCEEDED:
                    return LaneResult(plan.name, FAILED, (waited,))
            if vouch == OWN:
                vouch = self.vouching_id(plan)
            for op in plan.ops:
                outcome = self._perform(op, vouch)
                outcomes.append(outcome)
                self.on_event(Event(plan.name, f"{op.describe()}: {outcome.status.lower()}", ended=True))
                if outcome.status != SUCCEEDED:
                    return LaneResult(plan.name, FAILED, tuple(outcomes))
        except _Pending as pending:
            self._emit(plan.name, f"operation {pending.operation_id} still running; continuing later")
            return LaneResult(plan.name, PENDING, tuple(outcomes), pending.operation_id)
        return LaneResult(plan.name, SUCCEEDED, tuple(outcomes))

    def vouching_id(self, plan: StackSetPlan) -> str | None:
        """The OperationId of the plan's last StackSet operation, sent inside the hash tag: a lane stops at
        its first failure, so that operation succeeding proves the whole plan did, and the next run checks it
        with one DescribeStackSetOperation. Its id derives from its key, which never includes this id."""
        last = next((op for op in reversed(plan.ops) if op.stackset_operation), None)
        return self.operation_id(last) if last is not None else None

    def poll_pending(self, stackset: str, operation_id: str) -> OpOutcome | None:
        """One look at an operation carried over from a previous invocation: None while it runs, else
        how it ended (FAILED with the failing accounts when it failed or left failed instances)."""
        got = self._describe_operation(stackset, operation_id)
        if got.get("Status", "") in RUNNING_STATES:
            return None
        what = f"operation {operation_id[:8]} (started by an earlier invocation)"
        return self._ended(stackset, operation_id, got, Op(stackset=stackset), what)

    # --- operations ----------------------------------------------------------------------------------

    def _emit(self, stackset: str, message: str) -> None:
        self.on_event(Event(stackset, message))

    @property
    def _call_as(self) -> dict[str, str]:
        return {"CallAs": self.manifest.org.call_as}

    def _preferences(self) -> dict[str, Any]:
        # org.yaml's, or the one set of defaults (OperationPreferences: the fastest within the tolerance).
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-concepts.html#stackset-ops-options
        return dict(self.manifest.org.operation_preferences) or OperationPreferences().to_api()

    def _content_args(self, content: Content, tag: str, *, tag_only: bool = False) -> dict[str, Any]:
        args: dict[str, Any] = {
            "Description": content.description,
            "Capabilities": list(content.capabilities),
            "Tags": [{"Key": k, "Value": v} for k, v in content.tags] + [{"Key": HASH_TAG, "Value": tag}],
        }
        if tag_only:
            # Neither template nor parameters change, so AWS leaves the instances outside the update's
            # accounts as they are (API_UpdateStackSet, Accounts).
            args["UsePreviousTemplate"] = True
            args["Parameters"] = [
                {"ParameterKey": k, "UsePreviousValue": True} for k, _v in content.parameters
            ]
        else:
            args["TemplateBody"] = self.templates[content.template]
            args["Parameters"] = [{"ParameterKey": k, "ParameterValue": v} for k, v in content.parameters]
        if content.auto_deployment is not None:
            enabled, retain = content.auto_deployment
            args["AutoDeployment"] = (
                {"Enabled": True, "RetainStacksOnAccountRemoval": retain} if enabled else {"Enabled": False}
            )
        if content.administration_role_arn:
            args["AdministrationRoleARN"] = content.administration_role_arn
        if content.execution_role_name:
            args["ExecutionRoleName"] = content.execution_role_name
        return args

    def _targets(self, ou_ids: tuple[str, ...], accounts: tuple[str, ...], flt: str) -> dict[str, Any]:
        if self.manifest.org.service_managed:
            targets: dict[str, Any] = {"OrganizationalUnitIds": list(ou_ids)}
            if accounts:
                targets["Accounts"] = list(accounts)
                targets["AccountFilterType"] = flt
            return {"DeploymentTargets": targets}
        return {"Accounts": list(accounts)}

    def _accounts(self, accounts: tuple[str, ...]) -> dict[str, Any]:
        if self.manifest.org.service_managed:
            # As for UpdateStackInstances, an update's DeploymentTargets may name accounts directly.
            return {"DeploymentTargets": {"Accounts": list(accounts)}}
        return {"Accounts": list(accounts)}

    def _update_args(self, op: UpdateStackSet | CommitHash, vouch: str | None) -> dict[str, Any]:
        """A content update carries the sealed tag; a commit is tag-only, limited to its accounts if any."""
        tag_only = not isinstance(op, UpdateStackSet)
        args = self._content_args(op.content, sealed(op.tag, vouch), tag_only=tag_only)
        if op.accounts:
            # A canary wave (or a commit's accounts): UpdateStackSet updates only these instances; a template
            # or parameter change marks the others OUTDATED, and they keep their template until their own
            # update (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackSet.html,
            # Accounts). Service-managed: DeploymentTargets Accounts alone, as "for update operations, you can
            # specify either Accounts or OrganizationalUnitIds"
            # (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html).
            args |= self._accounts(op.accounts) | {"Regions": list(op.regions)}
        return args

    def _perform(self, op: Op, vouch: str | None = None) -> OpOutcome:
        if isinstance(op, CreateStackSet):
            return self._create_stackset(op, vouch)
        if isinstance(op, DeleteStackSet):
            return self._delete_stackset(op)
        if isinstance(op, DeployStack):
            return self._deploy_stack(op)
        args: dict[str, Any] = {"StackSetName": op.stackset, **self._call_as}
        if isinstance(op, UpdateStackSet | CommitHash):
            call = self.cfn.update_stack_set
            args |= self._update_args(op, vouch)
        elif isinstance(op, CreateInstances):
            call = self.cfn.create_stack_instances
            args |= self._targets(op.ou_ids, op.accounts, op.account_filter) | {"Regions": list(op.regions)}
            if op.parameters:
                # The new instances start with their per-OU values (API_CreateStackInstances,
                # ParameterOverrides), never with the StackSet's first.
                args["ParameterOverrides"] = [
                    {"ParameterKey": k, "ParameterValue": v} for k, v in op.parameters
                ]
        elif isinstance(op, DeleteInstances):
            call = self.cfn.delete_stack_instances
            args |= self._targets(op.ou_ids, op.accounts, op.account_filter)
            args |= {"Regions": list(op.regions), "RetainStacks": op.retain_stacks}
        elif isinstance(op, UpdateOverrides):
            call = self.cfn.update_stack_instances
            if self.manifest.org.service_managed:
                # For updates, DeploymentTargets may name accounts directly:
                # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html
                args["DeploymentTargets"] = {"Accounts": list(op.accounts)}
            else:
                args["Accounts"] = list(op.accounts)
            # An empty list sets every overridden parameter back to the StackSet's value.
            args["Regions"] = list(op.regions)
            args["ParameterOverrides"] = [{"ParameterKey": k, "ParameterValue": v} for k, v in op.parameters]
        else:  # pragma: no cover - every Op subclass is handled above
            raise TypeError(f"unknown operation {op!r}")
        args["OperationPreferences"] = self._preferences()
        return self._start_and_wait(op, call, args)

    def _start_and_wait(self, op: Op, call: Callable[..., Any], args: dict[str, Any]) -> OpOutcome:
        op_id = self.operation_id(op)
        args["OperationId"] = op_id
        adopted = False
        for _ in range(self.poll.max_polls):
            try:
                call_with_backoff(call, self.backoff, **args)
                self._emit(op.stackset, f"{op.describe()}: started (operation {op_id[:8]})")
                break
            except Exception as exc:
                code = error_code(exc)
                if code == "OperationIdAlreadyExistsException":
                    # A previous invocation of this run started it: adopt it, never start a duplicate.
                    self._emit(op.stackset, f"{op.describe()}: already started (operation {op_id[:8]})")
                    adopted = True
                    break
                if code == "OperationInProgressException":
                    self._wait_outside(op.stackset, op_id)
                    continue
                return OpOutcome(op, op_id, FAILED, f"{op.describe()} failed: {describe_error(exc)}")
        else:
            return OpOutcome(op, op_id, FAILED, f"{op.describe()}: gave up waiting for other operations")
        result = self._wait(op.stackset, op_id, op)
        return OpOutcome(result.op, op_id, result.status, result.message, result.failures, adopted)

    def _describe_operation(self, stackset: str, op_id: str) -> dict[str, Any]:
        return dict(
            call_with_backoff(
                self.cfn.describe_stack_set_operation,
                self.backoff,
                StackSetName=stackset,
                OperationId=op_id,
                **self._call_as,
            )["StackSetOperation"]
        )

    def _wait(self, stackset: str, op_id: str, op: Op | None) -> OpOutcome:
        delay = self.poll.initial
        label = op or Op(stackset=stackset)
        for _ in range(self.poll.max_polls):
            got = self._describe_operation(stackset, op_id)
            if got.get("Status", "") not in RUNNING_STATES:
                return self._ended(stackset, op_id, got, label)
            if self.out_of_time():
                raise _Pending(op_id)
            self.poll.sleep(delay)
            delay = min(self.poll.maximum, delay * self.poll.factor)
        return OpOutcome(
            label, op_id, FAILED, f"operation {op_id} did not finish after {self.poll.max_polls} polls"
        )

    def _ended(
        self, stackset: str, op_id: str, got: Mapping[str, Any], label: Op, what: str = ""
    ) -> OpOutcome:
        """The outcome of a finished operation: FAILED also when it succeeded with failed instances."""
        what = what or label.describe()
        status = str(got.get("Status", ""))
        failed = int(got.get("StatusDetails", {}).get("FailedStackInstancesCount", 0) or 0)
        if status == SUCCEEDED and not failed:
            self._emit(stackset, f"{what}: succeeded")
            return OpOutcome(label, op_id, SUCCEEDED)
        failures = self._failures(stackset, op_id)
        reason = got.get("StatusReason") or f"{len(failures)} stack instance(s) failed"
        self._emit(stackset, f"{what}: {status.lower()} ({reason})")
        return OpOutcome(label, op_id, FAILED, f"{what}: {status} ({reason})", failures)

    def _wait_outside(self, stackset: str, ours: str) -> None:
        """Wait out whatever operation holds the StackSet (ours from an earlier invocation, or anyone's).

        Raises _Pending when the invocation's time is up, whether or not the holder shows in the listing.
        """
        running = self._running_operations(stackset)
        if not running:
            # AWS refused with OperationInProgressException, yet no operation is listed as running (the
            # listing lags, or the holder just ended): retry after a pause, unless this invocation's time
            # is up, in which case the next invocation re-plans and retries (the Lambda must return).
            if self.out_of_time():
                raise _Pending(f"{BUSY_PREFIX}{ours or stackset}")
            self.poll.sleep(self.poll.initial)
            return
        for other in running:
            self._emit(stackset, f"waiting for operation {other[:8]} already in progress")
            self._wait(stackset, other, None)

    def _running_operations(self, stackset: str) -> list[str]:
        """Every running operation of the StackSet, over all pages of ListStackSetOperations."""
        summaries = paginate(
            self.cfn,
            "list_stack_set_operations",
            "Summaries",
            self.backoff,
            {"StackSetName": stackset, **self._call_as},
        )
        return [o["OperationId"] for o in summaries if o.get("Status") in RUNNING_STATES]

    def _failures(self, stackset: str, op_id: str) -> tuple[Failure, ...]:
        results = paginate(
            self.cfn,
            "list_stack_set_operation_results",
            "Summaries",
            self.backoff,
            {"StackSetName": stackset, "OperationId": op_id, **self._call_as},
        )
        out = [
            Failure(
                r.get("Account", ""),
                r.get("Region", ""),
                r.get("StatusReason") or r.get("AccountGateResult", {}).get("StatusReason", ""),
                r.get("OrganizationalUnitId"),
            )
            for r in results
            if r.get("Status") in ("FAILED", "CANCELLED")
        ]
        return tuple(sorted(out, key=lambda f: (f.account, f.region)))

    # --- StackSet-level calls without an operation ----------------------------------------------------

    def _create_stackset(self, op: CreateStackSet, vouch: str | None) -> OpOutcome:
        tag = sealed(op.tag, vouch)
        args = {"StackSetName": op.stackset, **self._call_as, **self._content_args(op.content, tag)}
        args["PermissionModel"] = op.content.permission_model
        # The request token makes a retried CreateStackSet idempotent.
        args["ClientRequestToken"] = self.operation_id(op)
        try:
            call_with_backoff(self.cfn.create_stack_set, self.backoff, **args)
        except Exception as exc:
            if error_code(exc) != "NameAlreadyExistsException":
                return OpOutcome(op, None, FAILED, f"creating the StackSet failed: {describe_error(exc)}")
            if not self._is_ours(op.stackset):
                return OpOutcome(
                    op, None, FAILED, "a StackSet of that name exists and was not created by the sync"
                )
        self._emit(op.stackset, "StackSet created")
        return OpOutcome(op, None, SUCCEEDED)

    def _is_ours(self, name: str) -> bool:
        got = call_with_backoff(self.cfn.describe_stack_set, self.backoff, StackSetName=name, **self._call_as)
        return any(t["Key"] == HASH_TAG for t in got["StackSet"].get("Tags", []))

    def _delete_stackset(self, op: DeleteStackSet) -> OpOutcome:
        for _ in range(self.poll.max_polls):
            try:
                call_with_backoff(
                    self.cfn.delete_stack_set, self.backoff, StackSetName=op.stackset, **self._call_as
                )
                self._emit(op.stackset, "StackSet deleted")
                return OpOutcome(op, None, SUCCEEDED)
            except Exception as exc:
                code = error_code(exc)
                if code == "StackSetNotFoundException":
                    return OpOutcome(op, None, SUCCEEDED, "already deleted")
                if code != "OperationInProgressException":
                    return OpOutcome(op, None, FAILED, f"deleting the StackSet failed: {describe_error(exc)}")
                self._wait_outside(op.stackset, "")
        return OpOutcome(op, None, FAILED, "gave up waiting for other operations")

    # --- the management-account stack ------------------------------------------------------------------

    def _deploy_stack(self, op: DeployStack) -> OpOutcome:
        client = self.stack_client(op.region) if self.stack_client else self.cfn
        try:
            message = deploy_stack(
                client,
                op,
                self.templates[op.template],
                self.operation_id(op),
                self.backoff,
                self.poll,
                self.out_of_time,
                lambda m: self._emit(op.stackset, m),
            )
        except StackPending as pending:
            raise _Pending(pending.args[0]) from None
        except Exception as exc:
            return OpOutcome(op, None, FAILED, f"{op.describe()} failed: {describe_error(exc)}")
        return OpOutcome(op, None, SUCCEEDED, message)
