"""The sandbox conformance kit: on a sandbox OU of the user's organization, create one throwaway StackSet
(random name under the manifest's prefix, tagged), observe live the StackSet behaviours the sync relies on
(docs/conformance.md), one row each with the AWS request ids, and remove everything it made, also on
failure or Ctrl-C. A rerun first removes what an earlier, killed run left (found by name prefix and tag).

A thin adapter: the clients come in, every call is one the sync itself makes. Pages cited per row are under
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pipeline.aws.retry import Backoff, error_code, paginate
from pipeline.core.org import OrgTree

KIT = "conformance"
TAG = "OrgStackSetsConformance"
PARAMETER = "Value"
# Harmless: a WaitConditionHandle creates no resource that costs or grants anything.
TEMPLATE = json.dumps(
    {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "org-stacksets conformance kit: throwaway, safe to delete",
        "Parameters": {PARAMETER: {"Type": "String", "Default": "stackset"}},
        "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    },
    sort_keys=True,
)
DONE = ("SUCCEEDED", "FAILED", "STOPPED")
ONCE = Backoff(attempts=1)  # list pages: botocore's own retries only


@dataclass(frozen=True)
class Row:
    behaviour: str
    expected: str
    observed: str
    status: str  # PASS, FAIL or SKIP
    request_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "request_ids": list(self.request_ids)}


class KitError(Exception):
    """An operation of the kit itself failed (not a behaviour under test): the run stops and cleans up."""


def kit_prefix(stackset_prefix: str) -> str:
    return f"{stackset_prefix}-{KIT}-"


@dataclass
class Kit:
    """One run against one OU: the StackSet it made and every request id it saw."""

    cfn: Any
    region: str
    tree: OrgTree
    ou_id: str
    prefix: str
    call_as: str = "SELF"
    sleep: Callable[[float], None] = lambda _s: None
    poll_seconds: float = 5.0
    max_polls: int = 720
    org: Any = None  # Organizations client: only for --move-account
    move: tuple[str, str] | None = None  # (account, OU id outside the target) for the AutoDeployment row
    member_cfn: Callable[[str], Any] | None = None  # account -> CloudFormation client there (--member-role)
    retained: list[str] = field(default_factory=list)  # "account/stack name" the run retained, until deleted
    name: str = ""
    ids: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)  # every operation the run started

    def __post_init__(self) -> None:
        self.name = self.name or kit_prefix(self.prefix) + secrets.token_hex(4)

    # --- calls --------------------------------------------------------------------------------------------

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        kwargs = {"CallAs": self.call_as} if self.call_as != "SELF" else {}
        try:
            got: dict[str, Any] = getattr(self.cfn, operation)(**params, **kwargs)
        except Exception as exc:
            rid = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("RequestId")
            if rid:
                self.ids.append(rid)
            raise
        rid = got.get("ResponseMetadata", {}).get("RequestId")
        if rid:
            self.ids.append(rid)
        if "OperationId" in got:
            self.operations.append(str(got["OperationId"]))
        return got

    def wait(self, operation_id: str) -> str:
        for _ in range(self.max_polls):
            op = self.call("describe_stack_set_operation", StackSetName=self.name, OperationId=operation_id)
            status = str(op["StackSetOperation"]["Status"])
            if status in DONE:
                return status
            self.sleep(self.poll_seconds)
        raise KitError(f"operation {operation_id} on {self.name} did not finish")

    def run_op(self, operation: str, **params: Any) -> str:
        got = self.call(operation, StackSetName=self.name, **params)
        status = self.wait(got["OperationId"])
        if status != "SUCCEEDED":
            raise KitError(f"{operation} on {self.name} ended {status}")
        return str(got["OperationId"])

    def instances(self) -> dict[str, str | None]:
        """account -> the OU it was deployed through."""
        kw = {"CallAs": self.call_as} if self.call_as != "SELF" else {}
        pages = paginate(
            self.cfn, "list_stack_instances", "Summaries", ONCE, {"StackSetName": self.name, **kw}
        )
        return {s["Account"]: s.get("OrganizationalUnitId") for s in pages}

    def targets(self, accounts: list[str] | None = None, filter_type: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"OrganizationalUnitIds": [self.ou_id]}
        if accounts is not None:
            out |= {"Accounts": accounts, "AccountFilterType": filter_type}
        return out

    # --- life cycle ---------------------------------------------------------------------------------------

    def create(self) -> None:
        self.call(
            "create_stack_set",
            StackSetName=self.name,
            TemplateBody=TEMPLATE,
            PermissionModel="SERVICE_MANAGED",
            AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
            Parameters=[{"ParameterKey": PARAMETER, "ParameterValue": "stackset"}],
            Tags=[{"Key": TAG, "Value": self.name}],
            Description="org-stacksets conformance kit: throwaway, safe to delete",
        )

    def members(self) -> list[str]:
        active, _ = self.tree.member_accounts_under(self.ou_id)
        return active


def remove(kit: Kit) -> None:
    """Delete every instance (stacks deleted, not retained) and the StackSet, waiting out a running
    operation, and then (also when that fails) the stacks the run retained, in their accounts."""
    try:
        _remove_stackset(kit)
    finally:
        for held in list(kit.retained):
            account, stack = held.split("/", 1)
            delete_retained(kit, account, stack)


def _remove_stackset(kit: Kit) -> None:
    for op in _running(kit):
        kit.wait(op)
    try:
        by_ou = sorted({ou for ou in kit.instances().values() if ou})
    except Exception as exc:
        if error_code(exc) == "StackSetNotFoundException":
            return
        raise
    if by_ou:
        kit.run_op(
            "delete_stack_instances",
            DeploymentTargets={"OrganizationalUnitIds": by_ou},
            Regions=[kit.region],
            RetainStacks=False,
        )
    kit.call("delete_stack_set", StackSetName=kit.name)


def _running(kit: Kit) -> Iterator[str]:
    kw = {"CallAs": kit.call_as} if kit.call_as != "SELF" else {}
    try:
        ops = list(
            paginate(
                kit.cfn,
                "list_stack_set_operations",
                "Summaries",
                ONCE,
                {"StackSetName": kit.name, **kw},
            )
        )
    except Exception as exc:
        if error_code(exc) == "StackSetNotFoundException":
            return
        raise
    for op in ops:
        if op["Status"] not in DONE:
            yield op["OperationId"]


def leftovers(cfn: Any, prefix: str, call_as: str) -> list[str]:
    """StackSets an earlier run left: the kit's name prefix and its tag, both (someone else's are never touched)."""
    kw = {"CallAs": call_as} if call_as != "SELF" else {}
    names = [
        s["StackSetName"]
        for s in paginate(cfn, "list_stack_sets", "Summaries", ONCE, {"Status": "ACTIVE", **kw})
        if s["StackSetName"].startswith(kit_prefix(prefix))
    ]
    out = []
    for name in sorted(names):
        tags = cfn.describe_stack_set(StackSetName=name, **kw)["StackSet"].get("Tags", [])
        if any(t["Key"] == TAG for t in tags):
            out.append(name)
    return out


# --- the rows -------------------------------------------------------------------------------------------------


def _row(kit: Kit, start: int, behaviour: str, expected: str, observed: str, status: str) -> Row:
    return Row(behaviour, expected, observed, status, tuple(dict.fromkeys(kit.ids[start:])))


def _accounts(accounts: Any) -> str:
    return ", ".join(sorted(accounts)) or "none"


def row_reach(kit: Kit) -> Row:
    """An OU target reaches every account in the OU and the OUs below it (API_DeploymentTargets)."""
    start = len(kit.ids)
    kit.run_op("create_stack_instances", DeploymentTargets=kit.targets(), Regions=[kit.region])
    got, want = set(kit.instances()), set(kit.members())
    below = {a for a in want if kit.tree.accounts[a].parent_id != kit.ou_id}
    status = "FAIL" if got != want else "PASS" if below else "SKIP"
    observed = f"instances in {_accounts(got)}"
    if not below:
        observed += (
            "; no account sits in a child OU, so the recursion is not observed (add one to observe it)"
        )
    return _row(
        kit,
        start,
        "An OU target reaches child-OU accounts",
        f"instances in {_accounts(want)}",
        observed,
        status,
    )


def row_management(kit: Kit) -> Row:
    """The management account is never targeted (API_DeploymentTargets)."""
    start = len(kit.ids)
    mgmt = kit.tree.management_account_id
    inside = mgmt in {a.id for a in kit.tree.accounts_under(kit.ou_id)}
    got = mgmt in kit.instances()
    status = "FAIL" if got else "PASS" if inside else "SKIP"
    observed = f"{'an' if got else 'no'} instance in {mgmt}" + ("" if inside else " (it is not in this OU)")
    return _row(
        kit, start, "The management account is never targeted", f"no instance in {mgmt}", observed, status
    )


def row_overrides(kit: Kit) -> Row:
    """ParameterOverrides given for an OU target persist on its instances (API_UpdateStackInstances)."""
    start = len(kit.ids)
    members = kit.members()
    if not members:
        return _row(
            kit, start, "ParameterOverrides persist for an OU target", "-", "no member account", "SKIP"
        )
    overrides = [{"ParameterKey": PARAMETER, "ParameterValue": "ou-override"}]
    kit.run_op(
        "update_stack_instances",
        DeploymentTargets=kit.targets(),
        Regions=[kit.region],
        ParameterOverrides=overrides,
    )
    inst = kit.call(
        "describe_stack_instance",
        StackSetName=kit.name,
        StackInstanceAccount=members[0],
        StackInstanceRegion=kit.region,
    )["StackInstance"]
    got = {p["ParameterKey"]: p["ParameterValue"] for p in inst.get("ParameterOverrides", [])}
    status = "PASS" if got.get(PARAMETER) == "ou-override" else "FAIL"
    return _row(
        kit,
        start,
        "ParameterOverrides persist for an OU target",
        f"{members[0]}: {PARAMETER}=ou-override",
        f"{members[0]}: " + (", ".join(f"{k}={v}" for k, v in sorted(got.items())) or "no overrides"),
        status,
    )


def row_in_progress(kit: Kit) -> Row:
    """A second operation while one runs raises OperationInProgressException (API_UpdateStackSet, Errors)."""
    start = len(kit.ids)
    first = kit.call(
        "update_stack_instances", StackSetName=kit.name, DeploymentTargets=kit.targets(), Regions=[kit.region]
    )["OperationId"]
    try:
        second = kit.call(
            "update_stack_set",
            StackSetName=kit.name,
            UsePreviousTemplate=True,
            Parameters=[{"ParameterKey": PARAMETER, "ParameterValue": "stackset"}],
        )
        observed, status = "accepted", "FAIL"
        kit.wait(second["OperationId"])
    except Exception as exc:
        observed = error_code(exc) or type(exc).__name__
        status = "PASS" if observed == "OperationInProgressException" else "FAIL"
    kit.wait(first)
    return _row(
        kit,
        start,
        "A second operation while one runs is refused",
        "OperationInProgressException",
        observed,
        status,
    )


def row_operations_order(kit: Kit) -> Row:
    """Every operation is listed by ListStackSetOperations; the sync searches all pages and relies on no
    order, so the order is reported, not judged (API_ListStackSetOperations)."""
    start = len(kit.ids)
    kw = {"CallAs": kit.call_as} if kit.call_as != "SELF" else {}
    ops = list(
        paginate(kit.cfn, "list_stack_set_operations", "Summaries", ONCE, {"StackSetName": kit.name, **kw})
    )
    stamps = [o.get("CreationTimestamp") for o in ops]
    if all(stamps) and stamps == sorted(stamps, reverse=True):
        order = "newest first"
    elif all(stamps) and stamps == sorted(stamps):
        order = "oldest first"
    else:
        order = "no order by creation time"
    missing = sorted(set(kit.operations) - {o["OperationId"] for o in ops})
    status = "FAIL" if missing or not kit.operations else "PASS"
    return _row(
        kit,
        start,
        "ListStackSetOperations lists every operation (order reported)",
        f"the {len(kit.operations)} operations of the run, on some page",
        f"{len(ops)} operations, {order}" + (f"; missing {', '.join(missing)}" if missing else ""),
        status,
    )


def row_filters(kit: Kit) -> list[Row]:
    """DIFFERENCE and INTERSECTION narrow an OU target to accounts (API_DeploymentTargets, AccountFilterType)."""
    members = kit.members()
    if len(members) < 2:
        start = len(kit.ids)
        why = "fewer than two member accounts in the OU"
        return [
            _row(kit, start, "DIFFERENCE filter on DeleteStackInstances", "-", why, "SKIP"),
            _row(kit, start, "INTERSECTION filter on CreateStackInstances", "-", why, "SKIP"),
        ]
    keep, add = members[0], members[1]
    start = len(kit.ids)
    kit.run_op(
        "delete_stack_instances",
        DeploymentTargets=kit.targets([keep], "DIFFERENCE"),
        Regions=[kit.region],
        RetainStacks=False,
    )
    got = set(kit.instances())
    difference = _row(
        kit,
        start,
        "DIFFERENCE filter on DeleteStackInstances",
        f"only {keep} left",
        f"instances in {_accounts(got)}",
        "PASS" if got == {keep} else "FAIL",
    )
    start = len(kit.ids)
    kit.run_op(
        "create_stack_instances", DeploymentTargets=kit.targets([add], "INTERSECTION"), Regions=[kit.region]
    )
    got = set(kit.instances())
    intersection = _row(
        kit,
        start,
        "INTERSECTION filter on CreateStackInstances",
        f"instances in {_accounts({keep, add})}",
        f"instances in {_accounts(got)}",
        "PASS" if got == {keep, add} else "FAIL",
    )
    return [difference, intersection]


def row_over_50(kit: Kit) -> Row:
    """More than 50 OU ids in one call are refused (API_CreateStackInstances: "The maximum number of
    organizational unit (OUs) supported by a CreateStackInstances operation is 50")."""
    start = len(kit.ids)
    try:
        got = kit.call(
            "create_stack_instances",
            StackSetName=kit.name,
            DeploymentTargets={"OrganizationalUnitIds": [kit.ou_id] * 51},
            Regions=[kit.region],
        )
        kit.wait(got["OperationId"])
        observed, status = "accepted", "FAIL"
    except Exception as exc:
        if isinstance(exc, KitError):
            raise
        observed = error_code(exc) or type(exc).__name__
        status = "PASS" if observed == "ValidationError" else "FAIL"
    return _row(
        kit, start, "More than 50 OU ids in one call are refused", "ValidationError", observed, status
    )


def _poll_instance(kit: Kit, account: str, present: bool) -> bool:
    """Wait (up to max_polls) until the account has an instance, or has none: AutoDeployment is asynchronous."""
    for _ in range(kit.max_polls):
        if (account in kit.instances()) == present:
            return True
        kit.sleep(kit.poll_seconds)
    return False


def _move(kit: Kit, account: str, to: str) -> None:
    parent = kit.org.list_parents(ChildId=account)["Parents"][0]["Id"]
    got = kit.org.move_account(AccountId=account, SourceParentId=parent, DestinationParentId=to)
    kit.ids.append(got.get("ResponseMetadata", {}).get("RequestId", ""))


def row_move(kit: Kit) -> list[Row]:
    """AutoDeployment removes the instance of an account that leaves a target OU and adds one, with the
    StackSet-level values (no OU override), when it comes back (API_AutoDeployment,
    API_UpdateStackInstances: overrides apply to the accounts in the OUs at the time). The account is moved
    back whatever happens; the order of ListStackSetOperations is reported with whether AutoDeployment's
    runs appear there."""
    behaviours = ("AutoDeployment on an account move", "A moved-in account gets the StackSet-level values")
    start = len(kit.ids)
    if kit.move is None:
        return [
            _row(kit, start, b, "-", "not run (pass --move-account ID --to-ou OU)", "SKIP")
            for b in behaviours
        ]
    account, away = kit.move
    home = kit.tree.accounts[account].parent_id
    before = set(kit.operations)
    try:
        _move(kit, account, away)
        left = _poll_instance(kit, account, present=False)
    finally:
        _move(kit, account, home)
    back = _poll_instance(kit, account, present=True)
    kw = {"CallAs": kit.call_as} if kit.call_as != "SELF" else {}
    ops = list(
        paginate(kit.cfn, "list_stack_set_operations", "Summaries", ONCE, {"StackSetName": kit.name, **kw})
    )
    auto_runs = len({o["OperationId"] for o in ops} - before - set(kit.operations))
    observed = (
        f"instance {'removed' if left else 'kept'} on leaving, {'added' if back else 'missing'} on return; "
        f"{auto_runs} AutoDeployment run(s) in ListStackSetOperations"
    )
    move_row = _row(
        kit,
        start,
        behaviours[0],
        "removed on leaving, added on return",
        observed,
        "PASS" if left and back else "FAIL",
    )
    start = len(kit.ids)
    overrides: dict[str, str] = {}
    if back:
        inst = kit.call(
            "describe_stack_instance",
            StackSetName=kit.name,
            StackInstanceAccount=account,
            StackInstanceRegion=kit.region,
        )["StackInstance"]
        overrides = {p["ParameterKey"]: p["ParameterValue"] for p in inst.get("ParameterOverrides", [])}
    values = ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())) or "no overrides"
    value_row = _row(
        kit,
        start,
        behaviours[1],
        f"{account}: no overrides",
        f"{account}: {values}" if back else "no instance",
        "PASS" if back and not overrides else "FAIL",
    )
    return [move_row, value_row]


# --- RetainStacks: the stack stays in the member account, where only that account can delete it -------------

SESSION = "org-stacksets-conformance"
RETAIN = "RetainStacks on delete keeps the stack in its account"
RETAIN_SKIP = "not run (pass --member-role NAME, e.g. OrganizationAccountAccessRole)"


def member_clients(
    sts: Any, role: str, client: Callable[[dict[str, str]], Any], partition: str = "aws"
) -> Callable[[str], Any]:
    """account -> a CloudFormation client in that account, from sts:AssumeRole of `role` there (one session
    per account, one hour: the default maximum of a role, API_AssumeRole DurationSeconds,
    https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html). Organizations creates
    OrganizationAccountAccessRole, trusting the management account, in every account it creates
    (API_CreateAccount, RoleName: "If you do not specify this parameter, the role name defaults to
    OrganizationAccountAccessRole", https://docs.aws.amazon.com/organizations/latest/APIReference/API_CreateAccount.html);
    an invited account has it only if someone made it."""
    made: dict[str, Any] = {}

    def get(account: str) -> Any:
        if account not in made:
            arn = f"arn:{partition}:iam::{account}:role/{role}"
            creds = sts.assume_role(RoleArn=arn, RoleSessionName=SESSION, DurationSeconds=3600)["Credentials"]
            made[account] = client(
                {
                    "aws_access_key_id": creds["AccessKeyId"],
                    "aws_secret_access_key": creds["SecretAccessKey"],
                    "aws_session_token": creds["SessionToken"],
                }
            )
        return made[account]

    return get


def _member_call(kit: Kit, account: str, operation: str, **params: Any) -> dict[str, Any]:
    if kit.member_cfn is None:
        raise KitError(f"no --member-role to reach account {account}")
    try:
        got: dict[str, Any] = getattr(kit.member_cfn(account), operation)(**params)
    except Exception as exc:
        rid = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("RequestId")
        kit.ids.extend([rid] if rid else [])
        raise
    rid = got.get("ResponseMetadata", {}).get("RequestId")
    kit.ids.extend([rid] if rid else [])
    return got


def stack_status(kit: Kit, account: str, stack: str) -> str | None:
    """The stack's status in its account, None when there is none. "Deleted stacks don't show up in the
    DescribeStacks operation if the deletion has been completed successfully" (API_DeleteStack): asked by
    name, DescribeStacks then fails with a ValidationError "does not exist"; a DELETE_COMPLETE answer is
    taken as gone too, so either reading ends the wait."""
    try:
        stacks = _member_call(kit, account, "describe_stacks", StackName=stack)["Stacks"]
    except Exception as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
            return None
        raise
    status = str(stacks[0]["StackStatus"]) if stacks else None
    return None if status == "DELETE_COMPLETE" else status


def delete_retained(kit: Kit, account: str, stack: str) -> None:
    """Delete a stack the run retained, in its account, and wait until it is gone."""
    if stack_status(kit, account, stack) is not None:
        _member_call(kit, account, "delete_stack", StackName=stack)
        for _ in range(kit.max_polls):
            status = stack_status(kit, account, stack)
            if status is None:
                break
            if status == "DELETE_FAILED":
                raise KitError(f"the retained stack {stack} in {account} could not be deleted: {status}")
            kit.sleep(kit.poll_seconds)
        else:
            raise KitError(f"the retained stack {stack} in {account} was not deleted in time")
    kit.retained.remove(f"{account}/{stack}")


LIVE = [
    "CREATE_COMPLETE",
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
    "DELETE_FAILED",
]  # every settled status but DELETE_COMPLETE (API_ListStacks, StackStatusFilter)


def retained_leftovers(kit: Kit) -> list[str]:
    """ "account/stack" of stacks an earlier, killed run retained in the OU's member accounts: named as a
    StackSet names its stacks, StackSet-<StackSet name>-<id>, with the kit's StackSet prefix (only a kit
    StackSet has such a name). One AssumeRole and ListStacks per member account."""
    if kit.member_cfn is None:
        raise KitError("no --member-role to reach the member accounts")
    start = f"StackSet-{kit_prefix(kit.prefix)}"
    out = []
    for account in sorted(kit.members()):
        there = kit.member_cfn(account)
        listed = paginate(there, "list_stacks", "StackSummaries", ONCE, {"StackStatusFilter": LIVE})
        out += [f"{account}/{s['StackName']}" for s in listed if s["StackName"].startswith(start)]
    return out


def row_retain(kit: Kit) -> Row:
    """DeleteStackInstances with RetainStacks removes the instance and keeps its stack in the account
    (API_DeleteStackInstances, RetainStacks: "Removes the stack instances from the specified stack set, but
    doesn't delete the stacks"). Observed in the member account through --member-role, where the kit then
    deletes the stack itself: nothing in the administrator account can."""
    start = len(kit.ids)
    if kit.member_cfn is None:
        return _row(kit, start, RETAIN, "-", RETAIN_SKIP, "SKIP")
    kw = {"CallAs": kit.call_as} if kit.call_as != "SELF" else {}
    pages = paginate(kit.cfn, "list_stack_instances", "Summaries", ONCE, {"StackSetName": kit.name, **kw})
    ids = {s["Account"]: str(s.get("StackId") or "") for s in pages}
    if not any(ids.values()):
        return _row(kit, start, RETAIN, "-", "no stack instance to delete", "SKIP")
    account = max(a for a, i in ids.items() if i)
    stack = ids[account].split(":stack/", 1)[1].split("/", 1)[0]
    others = sorted(set(ids) - {account})
    kit.retained.append(f"{account}/{stack}")  # from here on the clean-up deletes it, whatever happens
    kit.run_op(
        "delete_stack_instances",
        DeploymentTargets=kit.targets(others, "DIFFERENCE") if others else kit.targets(),
        Regions=[kit.region],
        RetainStacks=True,
    )
    gone = account not in kit.instances()
    status = stack_status(kit, account, stack)
    delete_retained(kit, account, stack)
    observed = f"instance {'removed' if gone else 'kept'}; stack {stack} in {account}: {status or 'absent'}"
    return _row(
        kit,
        start,
        RETAIN,
        f"instance removed; stack {stack} still in {account}",
        observed + "; deleted by the kit through the member role",
        "PASS" if gone and status is not None else "FAIL",
    )


ROWS: tuple[Callable[[Kit], Row | list[Row]], ...] = (
    row_reach,
    row_management,
    row_overrides,
    row_move,
    row_in_progress,
    row_operations_order,
    row_filters,
    row_retain,
    row_over_50,
)


def run_kit(kit: Kit, on_row: Callable[[Row], None] = lambda _r: None, keep: bool = False) -> list[Row]:
    """Create the StackSet, observe every row, and remove everything (unless keep), also when a row fails
    or the run is interrupted (KeyboardInterrupt included: the finally clause runs for it)."""
    rows: list[Row] = []
    try:
        kit.create()
        for step in ROWS:
            got = step(kit)
            for row in got if isinstance(got, list) else [got]:
                rows.append(row)
                on_row(row)
    finally:
        if not keep:
            remove(kit)
    return rows
