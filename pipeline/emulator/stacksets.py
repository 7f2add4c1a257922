"""A faithful in-memory emulation of the CloudFormation StackSet API (the fidelity layer over moto).

Why not moto's own StackSets: they reach only one level of child OUs, finish every operation instantly,
never raise OperationInProgressException, have no OUTDATED state, and delete by account, ignoring OU
targets and RetainStacks. Wrapping moto's StackSet classes would mean patching most of them, so the
smallest faithful choice is this emulator of the StackSet API surface the sync uses. It reads the live
organization from moto's Organizations backend (through an OrgView), and moto's server routes the
StackSet actions to it (pipeline.emulator.server); everything else (Organizations, plain stacks and change
sets, IAM, S3, SNS) stays moto's. Each behaviour follows the AWS page cited where it is implemented:

- OU targets are recursive: an OU target reaches every account in the OU and all OUs below it
  (API_DeploymentTargets: "The organization root ID or organizational unit (OU) IDs to which StackSets
  deploys"; API_UpdateStackInstances: "accounts that are currently in the target OUs and their child OUs").
- The management account is never targeted by a service-managed StackSet (API_DeploymentTargets:
  "StackSets doesn't deploy stack instances to the organization management account, even if the
  organization management account is in your organization or in an OU in your organization").
- Operations stay RUNNING for `running_ticks` calls naming their StackSet (each call stands for time
  passing), then end SUCCEEDED or FAILED (API_StackSetOperation, Status).
- A second operation while one runs raises OperationInProgressException, and a reused OperationId raises
  OperationIdAlreadyExistsException (API_CreateStackInstances, Errors).
- Instances are OUTDATED until their operation finishes; a template or parameter update marks every
  instance OUTDATED first (API_StackInstanceSummary, Status; API_UpdateStackSet, Accounts).
- UpdateStackSet changes the StackSet even when its operation fails (API_UpdateStackSet). Limited to some
  accounts, it updates only their instances; with a new template or parameters it first marks every other
  instance OUTDATED, and their stacks keep the template they were deployed with (API_UpdateStackSet,
  Accounts). Its DeploymentTargets name Accounts or OrganizationalUnitIds, not both ("For update operations,
  you can specify either Accounts or OrganizationalUnitIds", API_DeploymentTargets: the harsher reading).
- DeleteStackInstances honours OU targets (instances deployed through the given OUs, narrowed by
  AccountFilterType) and RetainStacks (API_DeleteStackInstances: RetainStacks "Removes the stack instances
  from the specified stack set, but doesn't delete the stacks").
- Parameter overrides: only parameters the StackSet specifies; a list without a parameter sets it back
  (API_UpdateStackInstances, ParameterOverrides); new accounts do not inherit them.
- AutoDeployment adds instances for accounts that join a target OU and removes them (retaining the stack
  when RetainStacksOnAccountRemoval) when they leave (API_AutoDeployment). It ignores account filters: an
  account a DIFFERENCE filter left out gets an instance when it joins a target OU ("Automatic deployments do
  not consider account level targeting filters", UserGuide stacksets-orgs-manage-auto-deployment.html).
  A move between two target OUs of one StackSet is a delete followed by a create, as for two StackSets
  ("runs a delete operation ... and queues a create operation", same page): the harsher of the two readings
  (the other keeps the instance). Simplification: it happens at the next API call, not asynchronously.
- A retained stack keeps its named IAM role, and IAM names are unique per account (all regions): a new
  instance of the same StackSet in that account fails with EntityAlreadyExists (inferred from
  API_DeleteStackInstances, RetainStacks, and IAM's API_CreateRole: "role ... names must be unique within
  the account").
- A retained stack is a stack of its account, which its own CloudFormation lists and deletes (inferred from
  API_DeleteStackInstances, RetainStacks: the instance goes, the stack stays). With a `keeper` (moto's CloudFormation, see
  pipeline.emulator.server) a stack retained without a materializer is created in moto in that account when
  its instance goes, so DescribeStacks/DeleteStack with that account's credentials (an assumed role) see it;
  the server reports a DeleteStack there through stack_deleted(), which forgets the retained record;
  load_json() (--local's restart from its state file) makes them real in moto again.
- Suspended accounts are skipped (API_StackInstanceComprehensiveStatus: SKIPPED_SUSPENDED_ACCOUNT).
- A failed DeleteStackInstances leaves the instance INOPERABLE, UpdateStackSet skips INOPERABLE instances,
  and a DeleteStackInstances with RetainStacks removes them (API_StackInstanceSummary, Status: "Stacks in
  this state are excluded from further UpdateStackSet operations. You might need to perform a
  DeleteStackInstances operation, with RetainStacks set to true").
- AutoDeployment's deployments fail like any other (fault injection: fail_accounts) and leave FAILED
  instances, but are not listed among the StackSet's operations: the documentation does not say they are,
  so the harsher reading (API_ListStackSetOperations).
- ListStackSetOperations lists oldest first: the documentation specifies no order, and oldest first is the
  reading that breaks a reader assuming newest first (API_ListStackSetOperations).
- ListStackInstances takes at most 3 filters, each with one value; filters narrow together, so a repeated
  name matches only instances having both values, i.e. none: the documentation does not say, and narrowing
  is the harsher reading for a reader hoping to widen (API_ListStackInstances, API_StackInstanceFilter).
- DeleteStackSet needs an empty StackSet (StackSetNotEmptyException, API_DeleteStackSet).
- CallAs DELEGATED_ADMIN needs a registered delegated administrator and a SERVICE_MANAGED StackSet
  (API_CreateStackSet, CallAs: "Valid only if the stack set's permissions model is SERVICE_MANAGED");
  such StackSets live in the management account (their ARN carries its id), where SELF from the
  management account finds them too (API_CreateStackSet, API_ListStackSets).
- DetectStackSetDrift is an operation over every instance (one operation at a time, OperationInProgressException
  otherwise, API_DetectStackSetDrift) that changes no instance status; when it ends each instance has a
  DriftStatus (API_StackInstanceSummary) and ListStackInstanceResourceDrifts, given that OperationId, account
  and region, returns its resources MODIFIED with PropertyDifferences or DELETED
  (API_ListStackInstanceResourceDrifts, API_PropertyDifference). With a materializer the roles compared are
  those moto's IAM holds in the account against what the template gave them (pipeline.emulator.drift);
  without one there is nothing to compare: UNKNOWN, never IN_SYNC.
All pages are under https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/.
"""

from __future__ import annotations

import copy
import math
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from pipeline.emulator.drift import resource_drifts, restore_roles, stack_roles
from pipeline.emulator.model import (
    EPOCH,
    ApiError,
    Instance,
    Materializer,
    Operation,
    OrgSnapshot,
    OrgView,
    Stack,
    StackSetRecord,
)
from pipeline.emulator.model import (
    key as _key,
)
from pipeline.emulator.model import (
    page as _page,
)
from pipeline.emulator.model import (
    sha as _sha,
)
from pipeline.emulator.model import (
    snapshot_from_json as _snapshot_from_json,
)
from pipeline.emulator.model import (
    snapshot_json as _snapshot_json,
)
from pipeline.emulator.model import (
    template_parameters as _template_parameters,
)
from pipeline.emulator.stack_drift import StackDriftService
from pipeline.emulator.throttle import Simulation


class StackSetService:
    """The emulated StackSet API. handle() takes one parsed request and returns the response data."""

    def __init__(
        self,
        org: OrgView,
        *,
        running_ticks: int = 3,
        materializer: Materializer | None = None,
        keeper: Materializer | None = None,
    ) -> None:
        self.org = org
        self.running_ticks = running_ticks
        self.materializer = materializer
        self.keeper = keeper  # makes retained stacks real in their account when no materializer did
        self.stacksets: dict[str, StackSetRecord] = {}  # "account/region/name"
        self.stacks: dict[str, Stack] = {}  # "account/region/stack name"
        self.fail_accounts: dict[str, str] = {}  # account -> reason: instances there fail (fault injection)
        self.calls: list[tuple[str, str]] = []  # (action, StackSetName) of every request, in order
        # With a simulation (the benchmark), operations run for their simulated duration instead of ticks.
        self.simulation: Simulation | None = None
        self._seq = 0
        self._last_org: OrgSnapshot | None = None
        self._lock = threading.RLock()
        self.stack_drift = StackDriftService(stack_roles)
        self._handlers: dict[str, Callable[[str, str, dict[str, Any]], dict[str, Any]]] = {
            "CreateStackSet": self._create_stack_set,
            "DescribeStackSet": self._describe_stack_set,
            "ListStackSets": self._list_stack_sets,
            "UpdateStackSet": self._update_stack_set,
            "DeleteStackSet": self._delete_stack_set,
            "CreateStackInstances": self._create_stack_instances,
            "UpdateStackInstances": self._update_stack_instances,
            "DeleteStackInstances": self._delete_stack_instances,
            "ListStackInstances": self._list_stack_instances,
            "DescribeStackInstance": self._describe_stack_instance,
            "DescribeStackSetOperation": self._describe_operation,
            "ListStackSetOperations": self._list_operations,
            "ListStackSetOperationResults": self._list_operation_results,
            "DetectStackSetDrift": self._detect_drift,
            "ListStackInstanceResourceDrifts": self._list_resource_drifts,
            # Plain stacks (the management-account stack): moto has no stack drift.
            "DetectStackDrift": self.stack_drift.detect,
            "DescribeStackDriftDetectionStatus": self.stack_drift.status,
            "DescribeStackResourceDrifts": self.stack_drift.resource_drifts,
        }

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(self._handlers)

    # --- entry point ---------------------------------------------------------------------------------

    def handle(self, account: str, region: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append((action, str(params.get("StackSetName", ""))))
            self._auto_deploy()
            name = params.get("StackSetName")
            if name:
                record = self.stacksets.get(f"{self._owner(account, params)}/{region}/{name}")
                if record is not None:
                    self._tick(record)
            return self._handlers[action](account, region, params)

    def drain(self) -> None:
        """Let every running operation finish, as time passing would."""
        with self._lock:
            self._auto_deploy()
            for record in self.stacksets.values():
                while (op := record.running()) is not None:
                    if op.ends_at is not None:
                        self._finish(record, op)
                    else:
                        self._tick(record)

    # --- helpers -------------------------------------------------------------------------------------

    def _snapshot(self) -> OrgSnapshot:
        snap = self.org.snapshot()
        if snap is None:
            raise ApiError("ValidationError", "AWS Organizations is not in use for this account")
        return snap

    def _owner(self, account: str, params: dict[str, Any]) -> str:
        """The account a StackSet lives in: the management account when a registered delegated
        administrator calls as DELEGATED_ADMIN ("StackSets with service-managed permissions are created
        in the management account, including StackSets that are created by delegated administrators",
        API_CreateStackSet, CallAs), else the caller's."""
        if params.get("CallAs") != "DELEGATED_ADMIN":
            return account
        snap = self.org.snapshot()
        return snap.management_account if snap is not None and account in snap.delegated_admins else account

    def _record(self, account: str, region: str, params: dict[str, Any]) -> StackSetRecord:
        name = params.get("StackSetName", "")
        record = self.stacksets.get(f"{self._owner(account, params)}/{region}/{name}")
        if record is None or record.status != "ACTIVE":
            raise ApiError("StackSetNotFoundException", f"StackSet {name} not found")
        self._check_call_as(account, record.permission_model, params)
        return record

    def _check_call_as(self, account: str, model: str, params: dict[str, Any]) -> None:
        call_as = params.get("CallAs", "SELF")
        if model != "SERVICE_MANAGED":
            # API_CreateStackSet, CallAs: "Valid only if the stack set's permissions model is
            # SERVICE_MANAGED."
            if call_as == "DELEGATED_ADMIN":
                raise ApiError(
                    "ValidationError", "CallAs DELEGATED_ADMIN is valid only for SERVICE_MANAGED stack sets"
                )
            return
        snap = self._snapshot()
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-delegated-admin.html
        if call_as == "DELEGATED_ADMIN" and account not in snap.delegated_admins:
            raise ApiError(
                "ValidationError", f"Account {account} is not a registered delegated administrator"
            )
        if call_as == "SELF" and account != snap.management_account:
            raise ApiError(
                "ValidationError", "Only the management account can use SELF for a service-managed StackSet"
            )

    def _begin(self, record: StackSetRecord, params: dict[str, Any]) -> str:
        """Checks every write operation makes first; returns the operation id to use."""
        op_id = params.get("OperationId") or str(uuid.uuid4())
        if op_id in record.operations:
            raise ApiError("OperationIdAlreadyExistsException", f"The operation ID {op_id} already exists")
        if record.running() is not None:
            raise ApiError(
                "OperationInProgressException",
                f"Another Operation on StackSet {record.id} is in progress",
            )
        return str(op_id)

    def _start(
        self,
        record: StackSetRecord,
        op_id: str,
        action: str,
        targets: list[tuple[str, str]],
        params: dict[str, Any],
    ) -> dict[str, Any]:
        self._seq += 1
        op = Operation(
            id=op_id,
            action=action,
            seq=self._seq,
            ticks_left=self.running_ticks,
            targets=targets,
            preferences=params.get("OperationPreferences") or {},
            retain_stacks=params.get("RetainStacks"),
            deployment_targets=params.get("DeploymentTargets"),
        )
        if self.simulation is not None:
            op.ends_at = self.simulation.clock.now() + self.simulation.operation_seconds(
                op.preferences, targets
            )
        record.operations[op_id] = op
        for account, region in targets:
            inst = record.instances.get(_key(account, region))
            if inst is not None and action != "DETECT_DRIFT":  # drift detection changes no instance
                inst.status, inst.detailed, inst.last_op = "OUTDATED", "PENDING", op_id
        if self.running_ticks <= 0 and op.ends_at is None:
            self._finish(record, op)
        return {"OperationId": op_id}

    def _tick(self, record: StackSetRecord) -> None:
        op = record.running()
        if op is None:
            return
        if op.ends_at is not None:
            assert self.simulation is not None
            if self.simulation.clock.now() >= op.ends_at:
                self._finish(record, op)
            return
        op.ticks_left -= 1
        if op.ticks_left <= 0:
            self._finish(record, op)

    def _effective(self, record: StackSetRecord, inst: Instance) -> dict[str, str]:
        return {**record.parameters, **inst.overrides}

    def _finish(self, record: StackSetRecord, op: Operation) -> None:
        if op.action == "DETECT_DRIFT":
            self._finish_drift(record, op)
            return
        snap = self._snapshot()
        retained = self._retained_stacks()  # no stack becomes retained while instances deploy
        for account, region in op.targets:
            key = _key(account, region)
            inst = record.instances.get(key)
            status = snap.accounts.get(account, ("", "ACTIVE"))[1]
            if inst is None:
                continue
            if status != "ACTIVE":
                inst.detailed, inst.status = "SKIPPED_SUSPENDED_ACCOUNT", "OUTDATED"
                op.results[key] = ["SUCCEEDED", "Account is suspended", inst.ou_id or ""]
                continue
            if op.action == "DELETE" and op.retain_stacks:
                # Retaining touches no stack: it succeeds wherever the stack is, INOPERABLE ones included.
                self._remove_instance(record, inst, True)
                op.results[key] = ["SUCCEEDED", "", inst.ou_id or ""]
                continue
            if account in self.fail_accounts:
                reason = self.fail_accounts[account]
                # A failed delete leaves the stack unstable: INOPERABLE (API_StackInstanceSummary, Status).
                left = ("INOPERABLE", "INOPERABLE") if op.action == "DELETE" else ("OUTDATED", "FAILED")
                inst.status, inst.detailed, inst.reason = (*left, reason)
                op.results[key] = ["FAILED", reason, inst.ou_id or ""]
                op.failed += 1
                continue
            if op.action == "DELETE":
                self._remove_instance(record, inst, bool(op.retain_stacks))
                op.results[key] = ["SUCCEEDED", "", inst.ou_id or ""]
                continue
            if op.action in ("CREATE", "UPDATE"):
                error = self._deploy(record, inst, retained)
                if error:
                    inst.status, inst.detailed, inst.reason = "OUTDATED", "FAILED", error
                    op.results[key] = ["FAILED", error, inst.ou_id or ""]
                    op.failed += 1
                    continue
            inst.status, inst.detailed, inst.reason = "CURRENT", "SUCCEEDED", ""
            op.results[key] = ["SUCCEEDED", "", inst.ou_id or ""]
        for ou in op.full_delete_ous:
            if not any(i.ou_id == ou for i in record.instances.values()) and ou in record.ou_ids:
                record.ou_ids.remove(ou)
        record.regions = sorted({i.region for i in record.instances.values()} | set(record.regions))
        op.status = "FAILED" if op.failed > self._tolerance(op) else "SUCCEEDED"
        if op.status == "FAILED":
            op.reason = f"{op.failed} stack instance(s) failed, more than the failure tolerance"
        op.end_seq = self._seq + 1

    @staticmethod
    def _tolerance(op: Operation) -> int:
        prefs = op.preferences
        if "FailureToleranceCount" in prefs:
            return int(prefs["FailureToleranceCount"])
        pct = float(prefs.get("FailureTolerancePercentage", 0))
        return math.floor(pct * len(op.targets) / 100)

    def _deploy(
        self, record: StackSetRecord, inst: Instance, retained: Mapping[tuple[str, str], Stack] | None = None
    ) -> str | None:
        """Deploy the instance's stack; `retained`: the retained stacks by (account, StackSet), when the
        caller deploys many at once (looking each up among every stack would be quadratic)."""
        params = self._effective(record, inst)
        key = f"{inst.account}/{inst.region}/{inst.stack_name}"
        holder = (
            retained.get((inst.account, record.name))
            if retained is not None
            else self._retained_holder(record, inst)
        )
        if holder is not None and key not in self.stacks:
            # The retained stack still owns the named role (IAM is global: any region of the account).
            return (
                f"EntityAlreadyExists: a role this template names already exists in account {inst.account} "
                f"(held by stack {holder.name}, retained when an earlier instance of {record.name} was removed)"
            )
        self.stacks[key] = Stack(
            inst.account, inst.region, inst.stack_name, record.name, _sha(record.template), dict(params)
        )
        if self.materializer is not None:
            error = self.materializer.apply(
                inst.account, inst.region, inst.stack_name, record.template, params
            )
            if error is None:
                self.stacks[key].expected = self.materializer.roles(
                    inst.account, inst.region, inst.stack_name
                )
            return error
        return None

    def _retained_stacks(self) -> dict[tuple[str, str], Stack]:
        """The retained stacks by (account, StackSet), the first of each as _retained_holder finds it."""
        found: dict[tuple[str, str], Stack] = {}
        for stack in self.stacks.values():
            if stack.retained:
                found.setdefault((stack.account, stack.stackset), stack)
        return found

    def _retained_holder(self, record: StackSetRecord, inst: Instance) -> Stack | None:
        """A stack of this StackSet retained in the instance's account, which holds the same named roles."""
        return next(
            (
                s
                for s in self.stacks.values()
                if s.retained and s.account == inst.account and s.stackset == record.name
            ),
            None,
        )

    def _remove_instance(self, record: StackSetRecord, inst: Instance, retain: bool) -> None:
        record.instances.pop(_key(inst.account, inst.region), None)
        key = f"{inst.account}/{inst.region}/{inst.stack_name}"
        stack = self.stacks.get(key)
        if stack is None:
            return
        if retain:
            stack.retained = True
            if self.materializer is None and self.keeper is not None:
                # Best effort: a template the keeper cannot create stays an emulator-only record.
                self.keeper.apply(
                    inst.account, inst.region, inst.stack_name, record.template, stack.parameters
                )
        else:
            del self.stacks[key]
            if self.materializer is not None:
                self.materializer.delete(inst.account, inst.region, inst.stack_name)

    def stack_deleted(self, account: str, region: str, stack: str) -> None:
        """The account deleted a stack through CloudFormation (name or stack ARN): a retained stack of that
        name is gone. Stacks of live instances are the StackSet's and are not touched here."""
        name = stack.split(":stack/", 1)[1].split("/", 1)[0] if ":stack/" in stack else stack
        with self._lock:
            held = self.stacks.get(f"{account}/{region}/{name}")
            if held is not None and held.retained:
                del self.stacks[f"{account}/{region}/{name}"]

    def _new_instance(self, record: StackSetRecord, account: str, region: str, ou_id: str | None) -> Instance:
        inst = Instance(account, region, ou_id, f"StackSet-{record.name}-{uuid.uuid4()}")
        record.instances[_key(account, region)] = inst
        return inst

    def _auto_deploy(self) -> None:
        """AutoDeployment: follow accounts that joined or left a target OU since the last request."""
        snap = self.org.snapshot()
        if snap is None:
            return
        before, self._last_org = self._last_org, snap
        if before is None or before == snap:
            return
        moved = [a for a, where in snap.accounts.items() if before.accounts.get(a) != where]
        gone = [a for a in before.accounts if a not in snap.accounts]
        for record in self.stacksets.values():
            auto = record.auto_deployment or {}
            if (
                record.status != "ACTIVE"
                or record.permission_model != "SERVICE_MANAGED"
                or not auto.get("Enabled")
            ):
                continue
            targets_now = {ou: snap.subtree(ou) for ou in record.ou_ids if ou in snap.parents}
            retain = bool(auto.get("RetainStacksOnAccountRemoval"))
            for account in [*moved, *gone]:
                if account == snap.management_account:
                    continue
                parent = snap.accounts.get(account, ("", ""))[0]
                reached = [ou for ou, units in targets_now.items() if parent in units]
                for region in record.regions:
                    inst = record.instances.get(_key(account, region))
                    if inst is not None and inst.ou_id in reached:
                        continue  # still under the target it was deployed through
                    if inst is not None and (reached or inst.ou_id in record.ou_ids):
                        # Left its target OU (for another target of this StackSet, or for none): a delete.
                        self._remove_instance(record, inst, retain)
                    if reached:
                        # Joined a target OU (the create queued after that delete, on a move): a create.
                        self._auto_create(record, account, region, reached[0])

    def _auto_create(self, record: StackSetRecord, account: str, region: str, ou_id: str) -> None:
        inst = self._new_instance(record, account, region, ou_id)
        # AutoDeployment's deployments fail like any other (fault injection), leaving a FAILED instance.
        error = self.fail_accounts.get(account) or self._deploy(record, inst)
        if error is None:
            inst.status, inst.detailed = "CURRENT", "SUCCEEDED"
        else:
            inst.status, inst.detailed, inst.reason = "OUTDATED", "FAILED", error

    # --- target resolution ---------------------------------------------------------------------------

    def _service_targets(
        self, record: StackSetRecord, targets: dict[str, Any] | None, regions: list[str], *, existing: bool
    ) -> list[tuple[str, str, str | None]]:
        """(account, region, via OU) for DeploymentTargets; existing=True resolves to current instances."""
        if not targets:
            raise ApiError("ValidationError", "DeploymentTargets is required for a service-managed StackSet")
        snap = self._snapshot()
        ou_ids = list(targets.get("OrganizationalUnitIds") or [])
        accounts = list(targets.get("Accounts") or [])
        flt = targets.get("AccountFilterType") or ("UNION" if accounts else "NONE")
        if len(ou_ids) > 50:
            raise ApiError("ValidationError", "At most 50 organizational units per operation")
        for ou in ou_ids:
            if ou not in snap.parents:
                raise ApiError("ValidationError", f"Organizational unit {ou} does not exist")
        out: list[tuple[str, str, str | None]] = []
        for region in regions:
            reach: dict[str, str | None] = {}  # account -> the OU target it is reached through
            if existing:
                # Instances deployed through the given OU targets: how deletes honour OU targets.
                for i in record.instances.values():
                    if i.region == region and (not ou_ids or i.ou_id in ou_ids):
                        reach[i.account] = i.ou_id
            else:
                for ou in ou_ids:
                    for acct in snap.members_under(ou):
                        reach.setdefault(acct, ou)
            reach = _filter(reach, flt, accounts, snap, existing=existing, by_ou=bool(ou_ids))
            out.extend((a, region, reach[a]) for a in sorted(reach))
        return out

    def _targets(
        self, record: StackSetRecord, params: dict[str, Any], *, existing: bool
    ) -> list[tuple[str, str, str | None]]:
        regions = list(params.get("Regions") or [])
        if not regions:
            raise ApiError("ValidationError", "Regions is required")
        if record.permission_model == "SERVICE_MANAGED":
            if params.get("Accounts"):
                raise ApiError(
                    "ValidationError",
                    "StackSets with SERVICE_MANAGED permission model can only have OU targets",
                )
            return self._service_targets(record, params.get("DeploymentTargets"), regions, existing=existing)
        if params.get("DeploymentTargets"):
            raise ApiError(
                "ValidationError", "StackSets with SELF_MANAGED permission model can only have accounts"
            )
        accounts = list(params.get("Accounts") or [])
        if not accounts:
            raise ApiError("ValidationError", "Accounts is required for a self-managed StackSet")
        return [(a, r, None) for r in regions for a in sorted(set(accounts))]

    def _check_overrides(self, record: StackSetRecord, overrides: list[dict[str, Any]] | None) -> None:
        for p in overrides or []:
            if p["ParameterKey"] not in record.parameters:
                raise ApiError(
                    "ValidationError",
                    f"Parameter {p['ParameterKey']} is not specified in the stack set; "
                    "only parameters the stack set specifies can be overridden",
                )

    @staticmethod
    def _apply_overrides(inst: Instance, overrides: list[dict[str, Any]]) -> None:
        new: dict[str, str] = {}
        for p in overrides:
            if p.get("UsePreviousValue"):
                if p["ParameterKey"] in inst.overrides:
                    new[p["ParameterKey"]] = inst.overrides[p["ParameterKey"]]
            else:
                new[p["ParameterKey"]] = str(p.get("ParameterValue", ""))
        inst.overrides = new

    def _check_template(self, template: str, parameters: dict[str, str], capabilities: list[str]) -> None:
        declared = _template_parameters(template)
        unknown = sorted(set(parameters) - declared)
        if unknown:
            raise ApiError("ValidationError", f"Parameters: {unknown} do not exist in the template")
        if "AWS::IAM::" in template and not {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} & set(capabilities):
            raise ApiError(
                "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]"
            )

    # --- StackSet actions ----------------------------------------------------------------------------

    def _create_stack_set(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        name = p["StackSetName"]
        owner = self._owner(account, p)
        key = f"{owner}/{region}/{name}"
        existing = self.stacksets.get(key)
        if existing is not None and existing.status == "ACTIVE":
            if p.get("ClientRequestToken") and existing.client_token == p.get("ClientRequestToken"):
                return {"StackSetId": existing.id}
            raise ApiError("NameAlreadyExistsException", f"StackSet {name} already exists")
        model = p.get("PermissionModel") or "SELF_MANAGED"
        self._check_call_as(account, model, p)
        if "TemplateBody" not in p:
            raise ApiError("ValidationError", "TemplateBody is required")
        parameters = {x["ParameterKey"]: str(x.get("ParameterValue", "")) for x in p.get("Parameters") or []}
        capabilities = list(p.get("Capabilities") or [])
        self._check_template(p["TemplateBody"], parameters, capabilities)
        auto = p.get("AutoDeployment")
        self.stacksets[key] = StackSetRecord(
            name=name,
            id=f"{name}:{uuid.uuid4()}",
            admin_account=owner,
            region=region,
            description=p.get("Description", ""),
            template=p["TemplateBody"],
            parameters=parameters,
            capabilities=capabilities,
            tags={t["Key"]: t["Value"] for t in p.get("Tags") or []},
            permission_model=model,
            auto_deployment=dict(auto)
            if auto
            else ({"Enabled": False} if model == "SERVICE_MANAGED" else None),
            admin_role=p.get("AdministrationRoleARN"),
            exec_role=p.get("ExecutionRoleName"),
            client_token=p.get("ClientRequestToken"),
        )
        return {"StackSetId": self.stacksets[key].id}

    def _describe_stack_set(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        r = self._record(account, region, p)
        out: dict[str, Any] = {
            "StackSetName": r.name,
            "StackSetId": r.id,
            "Description": r.description,
            "Status": r.status,
            "TemplateBody": r.template,
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(r.parameters.items())],
            "Capabilities": r.capabilities,
            "Tags": [{"Key": k, "Value": v} for k, v in r.tags.items()],
            "StackSetARN": r.arn,
            "PermissionModel": r.permission_model,
            "OrganizationalUnitIds": list(r.ou_ids),
            "Regions": list(r.regions),
            "ManagedExecution": {"Active": False},
        }
        if r.auto_deployment is not None:
            out["AutoDeployment"] = r.auto_deployment
        if r.permission_model == "SELF_MANAGED":
            out["AdministrationRoleARN"] = r.admin_role or (
                f"arn:aws:iam::{account}:role/AWSCloudFormationStackSetAdministrationRole"
            )
            out["ExecutionRoleName"] = r.exec_role or "AWSCloudFormationStackSetExecutionRole"
        return {"StackSet": out}

    def _list_stack_sets(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        wanted = p.get("Status")
        rows = [
            {
                "StackSetName": r.name,
                "StackSetId": r.id,
                "Description": r.description,
                "Status": r.status,
                "PermissionModel": r.permission_model,
                **({"AutoDeployment": r.auto_deployment} if r.auto_deployment else {}),
            }
            for key, r in sorted(self.stacksets.items())
            if key.startswith(f"{self._owner(account, p)}/{region}/")
            and (wanted is None or r.status == wanted)
            # API_ListStackSets: as DELEGATED_ADMIN, "all StackSets with service-managed permissions in
            # the management account".
            and (p.get("CallAs") != "DELEGATED_ADMIN" or r.permission_model == "SERVICE_MANAGED")
        ]
        return _page(rows, p, "Summaries")

    def _update_stack_set(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        r = self._record(account, region, p)
        op_id = self._begin(r, p)
        template = r.template if p.get("UsePreviousTemplate") else p.get("TemplateBody")
        if template is None:
            raise ApiError("ValidationError", "Specify TemplateBody, TemplateURL or UsePreviousTemplate")
        parameters, new_values = self._new_parameters(r, p.get("Parameters"))
        changed = "TemplateBody" in p or new_values
        capabilities = list(p.get("Capabilities") or [])
        self._check_template(template, parameters, capabilities)
        # The StackSet takes the changes now, whatever the operation's outcome (API_UpdateStackSet).
        r.template, r.parameters, r.capabilities = template, parameters, capabilities
        if "Description" in p:
            r.description = p["Description"]
        if p.get("Tags") is not None:
            r.tags = {t["Key"]: t["Value"] for t in p["Tags"]}
        if p.get("AutoDeployment") is not None:
            r.auto_deployment = dict(p["AutoDeployment"])
        r.admin_role = p.get("AdministrationRoleARN") or r.admin_role
        r.exec_role = p.get("ExecutionRoleName") or r.exec_role
        dt = p.get("DeploymentTargets") or {}
        if dt.get("Accounts") and dt.get("OrganizationalUnitIds"):
            # "For update operations, you can specify either Accounts or OrganizationalUnitIds"
            # (API_DeploymentTargets): the harsher reading refuses both at once.
            raise ApiError(
                "ValidationError", "Specify either Accounts or OrganizationalUnitIds for an update"
            )
        if p.get("Regions") and (p.get("Accounts") or p.get("DeploymentTargets")):
            targets = [(a, rg) for a, rg, _o in self._targets(r, p, existing=True)]
        else:
            targets = sorted((i.account, i.region) for i in r.instances.values())
        # INOPERABLE instances are excluded from UpdateStackSet (API_StackInstanceSummary, Status).
        targets = [t for t in targets if r.instances[_key(*t)].status != "INOPERABLE"]
        if changed:
            for inst in r.instances.values():
                if inst.status != "INOPERABLE":
                    inst.status = "OUTDATED"
        return self._start(r, op_id, "UPDATE", targets, p)

    @staticmethod
    def _new_parameters(r: StackSetRecord, given: list[dict[str, Any]] | None) -> tuple[dict[str, str], bool]:
        """UpdateStackSet's parameters, and whether any value is given rather than UsePreviousValue."""
        if given is None:
            return dict(r.parameters), False
        parameters, new_values = {}, False
        for x in given:
            if x.get("UsePreviousValue"):
                parameters[x["ParameterKey"]] = r.parameters.get(x["ParameterKey"], "")
            else:
                parameters[x["ParameterKey"]] = str(x.get("ParameterValue", ""))
                new_values = True
        return parameters, new_values

    def _delete_stack_set(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        r = self._record(account, region, p)
        if r.running() is not None:
            raise ApiError(
                "OperationInProgressException", f"Another Operation on StackSet {r.id} is in progress"
            )
        if r.instances:
            raise ApiError(
                "StackSetNotEmptyException", f"StackSet {r.name} still has {len(r.instances)} instance(s)"
            )
        r.status = "DELETED"
        return {}

    def _create_stack_instances(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        r = self._record(account, region, p)
        op_id = self._begin(r, p)
        self._check_overrides(r, p.get("ParameterOverrides"))
        resolved = self._targets(r, p, existing=False)
        targets = []
        for acct, rg, ou in resolved:
            inst = r.instances.get(_key(acct, rg))
            if inst is not None and inst.status == "CURRENT":
                continue  # already there and current: nothing to do
            if inst is None:
                inst = self._new_instance(r, acct, rg, ou)
                inst.overrides = {
                    x["ParameterKey"]: str(x.get("ParameterValue", ""))
                    for x in p.get("ParameterOverrides") or []
                }
            targets.append((acct, rg))
        for ou in (p.get("DeploymentTargets") or {}).get("OrganizationalUnitIds") or []:
            if ou not in r.ou_ids:
                r.ou_ids.append(ou)
        r.regions = sorted(set(r.regions) | set(p["Regions"]))
        return self._start(r, op_id, "CREATE", targets, p)

    def _update_stack_instances(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        r = self._record(account, region, p)
        op_id = self._begin(r, p)
        overrides = p.get("ParameterOverrides")
        self._check_overrides(r, overrides)
        if r.permission_model == "SERVICE_MANAGED":
            dt = p.get("DeploymentTargets") or {}
            if not dt.get("OrganizationalUnitIds") and not dt.get("Accounts"):
                raise ApiError("ValidationError", "DeploymentTargets needs OrganizationalUnitIds or Accounts")
            if len(dt.get("OrganizationalUnitIds") or []) > 50:
                # API_UpdateStackInstances: "The maximum number of organizational unit (OUs) supported by a
                # UpdateStackInstances operation is 50."
                raise ApiError("ValidationError", "At most 50 organizational units per operation")
            if dt.get("OrganizationalUnitIds"):
                # OU updates reach the accounts currently in the OUs and their child OUs.
                snap = self._snapshot()
                accts = {a for ou in dt["OrganizationalUnitIds"] for a in snap.members_under(ou)}
                if dt.get("Accounts") and dt.get("AccountFilterType") == "INTERSECTION":
                    accts &= set(dt["Accounts"])
                wanted = [(a, rg) for rg in p["Regions"] for a in sorted(accts)]
            else:
                wanted = [(a, rg) for rg in p["Regions"] for a in sorted(set(dt["Accounts"]))]
        else:
            wanted = [(a, rg) for a, rg, _o in self._targets(r, p, existing=False)]
        missing = [f"{a}/{rg}" for a, rg in wanted if _key(a, rg) not in r.instances]
        if missing:
            raise ApiError(
                "StackInstanceNotFoundException", f"No stack instance for {', '.join(missing[:5])}"
            )
        if overrides is not None:
            for a, rg in wanted:
                self._apply_overrides(r.instances[_key(a, rg)], overrides)
        return self._start(r, op_id, "UPDATE", wanted, p)

    def _delete_stack_instances(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        r = self._record(account, region, p)
        if "RetainStacks" not in p:
            raise ApiError("ValidationError", "RetainStacks is required")
        op_id = self._begin(r, p)
        resolved = self._targets(r, p, existing=True)
        targets = [(a, rg) for a, rg, _o in resolved if _key(a, rg) in r.instances]
        result = self._start_delete(r, op_id, targets, p)
        return result

    def _start_delete(
        self, r: StackSetRecord, op_id: str, targets: list[tuple[str, str]], p: dict[str, Any]
    ) -> dict[str, Any]:
        dt = p.get("DeploymentTargets") or {}
        full = [] if dt.get("Accounts") else list(dt.get("OrganizationalUnitIds") or [])
        result = self._start(r, op_id, "DELETE", targets, p)
        op = r.operations[op_id]
        op.full_delete_ous = full
        if op.status != "RUNNING":  # finished at once (running_ticks 0): apply the OU removal now
            for ou in full:
                if not any(i.ou_id == ou for i in r.instances.values()) and ou in r.ou_ids:
                    r.ou_ids.remove(ou)
        return result

    def _instance_summary(self, r: StackSetRecord, inst: Instance) -> dict[str, Any]:
        return {
            "StackSetId": r.id,
            "Region": inst.region,
            "Account": inst.account,
            "StackId": f"arn:aws:cloudformation:{inst.region}:{inst.account}:stack/{inst.stack_name}/0",
            "Status": inst.status,
            "StatusReason": inst.reason,
            "StackInstanceStatus": {"DetailedStatus": inst.detailed},
            **({"OrganizationalUnitId": inst.ou_id} if inst.ou_id else {}),
            "DriftStatus": inst.drift,
            "LastOperationId": inst.last_op,
        }

    def _list_stack_instances(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        r = self._record(account, region, p)
        rows = []
        filters = [(f["Name"], f["Values"]) for f in p.get("Filters") or []]
        if len(filters) > 3:
            # API_ListStackInstances, Filters: "Maximum number of 3 items."
            raise ApiError("ValidationError", "At most 3 filters")
        for key in sorted(r.instances):
            inst = r.instances[key]
            if p.get("StackInstanceAccount") not in (None, inst.account):
                continue
            if p.get("StackInstanceRegion") not in (None, inst.region):
                continue
            # Every filter must hold: a repeated name narrows (the harsher reading; the docs are silent).
            values = {
                "DETAILED_STATUS": inst.detailed,
                "LAST_OPERATION_ID": inst.last_op,
                "DRIFT_STATUS": inst.drift,
            }
            if any(values.get(name, "") != value for name, value in filters):
                continue
            rows.append(self._instance_summary(r, inst))
        return _page(rows, p, "Summaries")

    def _describe_stack_instance(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        r = self._record(account, region, p)
        inst = r.instances.get(_key(p["StackInstanceAccount"], p["StackInstanceRegion"]))
        if inst is None:
            raise ApiError("StackInstanceNotFoundException", "Stack instance not found")
        summary = self._instance_summary(r, inst)
        summary["ParameterOverrides"] = [
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(inst.overrides.items())
        ]
        return {"StackInstance": summary}

    def _operation(self, r: StackSetRecord, p: dict[str, Any]) -> Operation:
        op = r.operations.get(p.get("OperationId", ""))
        if op is None:
            raise ApiError("OperationNotFoundException", f"Operation {p.get('OperationId')} not found")
        return op

    def _op_view(self, r: StackSetRecord, op: Operation) -> dict[str, Any]:
        out: dict[str, Any] = {
            "OperationId": op.id,
            "StackSetId": r.id,
            "Action": op.action,
            "Status": op.status,
            "OperationPreferences": op.preferences,
            "CreationTimestamp": EPOCH + timedelta(seconds=op.seq),
            "StatusDetails": {"FailedStackInstancesCount": op.failed},
        }
        if op.retain_stacks is not None:
            out["RetainStacks"] = op.retain_stacks
        if op.deployment_targets:
            out["DeploymentTargets"] = op.deployment_targets
        if op.end_seq is not None:
            out["EndTimestamp"] = EPOCH + timedelta(seconds=op.end_seq)
        if op.reason:
            out["StatusReason"] = op.reason
        return out

    def _describe_operation(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        r = self._record(account, region, p)
        return {"StackSetOperation": self._op_view(r, self._operation(r, p))}

    def _list_operations(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        r = self._record(account, region, p)
        # Oldest first: the order is unspecified (API_ListStackSetOperations); readers must not rely on it.
        ops = sorted(r.operations.values(), key=lambda o: o.seq)
        rows = [
            {
                k: v
                for k, v in self._op_view(r, o).items()
                if k
                in (
                    "OperationId",
                    "Action",
                    "Status",
                    "CreationTimestamp",
                    "EndTimestamp",
                    "StatusReason",
                    "StatusDetails",
                    "OperationPreferences",
                )
            }
            for o in ops
        ]
        return _page(rows, p, "Summaries")

    def _list_operation_results(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        r = self._record(account, region, p)
        op = self._operation(r, p)
        rows = []
        for key, (status, reason, ou) in sorted(op.results.items()):
            acct, rg = key.split("/")
            row = {
                "Account": acct,
                "Region": rg,
                "Status": status,
                "StatusReason": reason,
                "AccountGateResult": {"Status": "SKIPPED"},
            }
            if ou:
                row["OrganizationalUnitId"] = ou
            rows.append(row)
        return _page(rows, p, "Summaries")

    def _detect_drift(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        """Drift detection is an operation like any other (one at a time per StackSet, API_DetectStackSetDrift)
        over every instance; it changes no instance status, only their DriftStatus when it ends."""
        r = self._record(account, region, p)
        op_id = self._begin(r, p)
        targets = [(i.account, i.region) for _k, i in sorted(r.instances.items())]
        return self._start(r, op_id, "DETECT_DRIFT", targets, p)

    def _finish_drift(self, record: StackSetRecord, op: Operation) -> None:
        """Each instance's roles in moto's IAM against the template's (pipeline.emulator.drift). Without a
        materializer the roles exist nowhere to compare: UNKNOWN, never a made-up IN_SYNC."""
        for account, region in op.targets:
            key = _key(account, region)
            inst = record.instances.get(key)
            if inst is None:
                continue
            stack = self.stacks.get(f"{account}/{region}/{inst.stack_name}")
            if self.materializer is None or stack is None or not stack.expected:
                inst.drift = "UNKNOWN"
            else:
                rows = resource_drifts(
                    stack.expected, self.materializer.roles(account, region, inst.stack_name)
                )
                op.drifts[key] = rows
                inst.drift = (
                    "IN_SYNC" if all(r["StackResourceDriftStatus"] == "IN_SYNC" for r in rows) else "DRIFTED"
                )
            op.results[key] = ["SUCCEEDED", "", inst.ou_id or ""]
        op.status = "SUCCEEDED"
        op.end_seq = self._seq + 1

    def _list_resource_drifts(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        """API_ListStackInstanceResourceDrifts: the resources of one instance in the given drift operation,
        narrowed to StackInstanceResourceDriftStatuses when given."""
        r = self._record(account, region, p)
        op = self._operation(r, p)
        inst = r.instances.get(_key(p["StackInstanceAccount"], p["StackInstanceRegion"]))
        if inst is None:
            raise ApiError("StackInstanceNotFoundException", "Stack instance not found")
        wanted = set(p.get("StackInstanceResourceDriftStatuses") or [])
        stack_id = self._instance_summary(r, inst)["StackId"]
        rows = [
            {**row, "StackId": stack_id, "Timestamp": EPOCH + timedelta(seconds=op.seq)}
            for row in op.drifts.get(_key(inst.account, inst.region), [])
            if not wanted or row["StackResourceDriftStatus"] in wanted
        ]
        return _page(rows, p, "Summaries")

    # --- inspection and persistence ------------------------------------------------------------------

    def record(self, name: str) -> StackSetRecord:
        return next(r for r in self.stacksets.values() if r.name == name and r.status == "ACTIVE")

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            if self.materializer is not None:
                for s in self.stacks.values():
                    if s.expected:
                        s.live = self.materializer.roles(s.account, s.region, s.name)
            return {
                "stacksets": {k: asdict(v) for k, v in self.stacksets.items()},
                "stacks": {k: asdict(v) for k, v in self.stacks.items()},
                "seq": self._seq,
                "last_org": _snapshot_json(self._last_org),
                **({"fail_accounts": dict(self.fail_accounts)} if self.fail_accounts else {}),
            }

    def load_json(self, data: Mapping[str, Any]) -> None:
        with self._lock:
            self.stacksets = {}
            for key, stored in data.get("stacksets", {}).items():
                raw = copy.deepcopy(dict(stored))
                raw["instances"] = {k: Instance(**v) for k, v in raw["instances"].items()}
                ops = {}
                for k, v in raw["operations"].items():
                    v["targets"] = [tuple(t) for t in v["targets"]]
                    ops[k] = Operation(**v)
                raw["operations"] = ops
                self.stacksets[key] = StackSetRecord(**raw)
            self.stacks = {k: Stack(**v) for k, v in data.get("stacks", {}).items()}
            self._seq = int(data.get("seq", 0))
            self._last_org = _snapshot_from_json(data.get("last_org"))
            self.fail_accounts = {str(k): str(v) for k, v in data.get("fail_accounts", {}).items()}
            self._keep_retained()
            self._rematerialize()

    def _rematerialize(self) -> None:
        """With a materializer, re-create every instance's stack in moto (--local restarts moto from its
        state file), retained ones included, and give their roles the properties they had when saved:
        out-of-band edits survive."""
        if self.materializer is None:
            return
        templates = {r.name: r.template for r in self.stacksets.values()}
        for s in self.stacks.values():  # retained stacks too: they stay in their accounts
            if s.stackset in templates:
                self.materializer.apply(s.account, s.region, s.name, templates[s.stackset], s.parameters)
                if s.live is not None:
                    restore_roles(s.account, s.live)

    def _keep_retained(self) -> None:
        """Make the retained stacks real in their accounts again (--local restarts moto from a state file)."""
        if self.materializer is not None or self.keeper is None:
            return
        templates = {r.name: r.template for r in self.stacksets.values()}
        for s in self.stacks.values():
            if s.retained and s.stackset in templates:
                self.keeper.apply(s.account, s.region, s.name, templates[s.stackset], s.parameters)


def _filter(
    reach: dict[str, str | None],
    flt: str,
    accounts: list[str],
    snap: OrgSnapshot,
    *,
    existing: bool,
    by_ou: bool,
) -> dict[str, str | None]:
    """Apply AccountFilterType (API_DeploymentTargets) to the accounts the OUs reach."""
    if flt == "INTERSECTION" or (existing and not by_ou):
        return {a: o for a, o in reach.items() if a in accounts}
    if flt == "DIFFERENCE":
        return {a: o for a, o in reach.items() if a not in accounts}
    if flt == "UNION" and not existing:
        extra = {
            a: snap.accounts[a][0] for a in accounts if a in snap.accounts and a != snap.management_account
        }
        return {**extra, **reach}
    return reach
