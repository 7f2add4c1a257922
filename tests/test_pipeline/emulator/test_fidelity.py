"""The StackSet fidelity layer over moto, one test per documented AWS behaviour, driven over HTTP with
plain boto3 calls (docs under https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.sync import FIXTURE, LOGIN, MGMT

TEMPLATE = (FIXTURE / "templates" / "org" / "roles" / "Developer.yaml").read_text()
PARAMS = [
    {"ParameterKey": "LoginAccountId", "ParameterValue": LOGIN},
    {"ParameterKey": "MaxSessionDuration", "ParameterValue": "3600"},
]
NAME = "org-roles-Test"
PREFS = {"FailureTolerancePercentage": 0, "MaxConcurrentPercentage": 100}


@pytest.fixture
def env(make_world: Any) -> tuple[Any, Any]:
    world = make_world(running_ticks=3)
    cfn = world.client("cloudformation")
    cfn.create_stack_set(
        StackSetName=NAME,
        TemplateBody=TEMPLATE,
        Parameters=PARAMS,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": True},
    )
    return world, cfn


def wait(cfn: Any, op_id: str) -> tuple[str, int]:
    """Poll until done: the final status and how many polls saw it RUNNING."""
    running = 0
    while True:
        status = cfn.describe_stack_set_operation(StackSetName=NAME, OperationId=op_id)["StackSetOperation"][
            "Status"
        ]
        if status != "RUNNING":
            return status, running
        running += 1


def create(cfn: Any, ous: list[str], op: str, **targets: Any) -> str:
    cfn.create_stack_instances(
        StackSetName=NAME,
        DeploymentTargets={"OrganizationalUnitIds": ous, **targets},
        Regions=["us-east-1"],
        OperationId=op,
        OperationPreferences=PREFS,
    )
    return op


def instances(cfn: Any) -> dict[str, tuple[str, str]]:
    rows = cfn.list_stack_instances(StackSetName=NAME)["Summaries"]
    return {r["Account"]: (r["Status"], r.get("OrganizationalUnitId", "")) for r in rows}


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_ou_targets_are_recursive_and_skip_the_management_account(env: Any) -> None:
    """API_DeploymentTargets: OUs reach their child OUs; never the organization management account."""
    world, cfn = env
    wait(cfn, create(cfn, [world.layout.root_id], "op-1"))
    assert set(instances(cfn)) == world.accounts_in("Root")
    assert MGMT not in instances(cfn)


def test_operations_run_for_some_polls_with_instances_outdated(env: Any) -> None:
    """API_StackSetOperation (Status) and StackInstanceSummary (OUTDATED until the operation finishes)."""
    world, cfn = env
    create(cfn, [world.layout.ou_id("Root/Workloads")], "op-1")
    assert {s for s, _o in instances(cfn).values()} == {"OUTDATED"}
    status, polls = wait(cfn, "op-1")
    assert (status, polls) == ("SUCCEEDED", 1)
    assert {s for s, _o in instances(cfn).values()} == {"CURRENT"}


def test_one_operation_at_a_time_and_ids_are_idempotency_tokens(env: Any) -> None:
    """API_CreateStackInstances errors: OperationInProgressException, OperationIdAlreadyExistsException."""
    world, cfn = env
    create(cfn, [world.layout.ou_id("Root/Workloads")], "op-1")
    with pytest.raises(ClientError) as busy:
        create(cfn, [world.layout.ou_id("Root/Sandbox")], "op-2")
    assert code(busy) == "OperationInProgressException"
    wait(cfn, "op-1")
    with pytest.raises(ClientError) as again:
        create(cfn, [world.layout.ou_id("Root/Sandbox")], "op-1")
    assert code(again) == "OperationIdAlreadyExistsException"


def test_update_marks_every_instance_outdated_and_changes_the_stackset_at_once(env: Any) -> None:
    """API_UpdateStackSet: instances OUTDATED first; the StackSet takes the change even if the operation fails."""
    world, cfn = env
    wait(cfn, create(cfn, [world.layout.ou_id("Root/Sandbox")], "op-1"))
    world.service.fail_accounts["100000000000"] = "injected"
    cfn.update_stack_set(
        StackSetName=NAME,
        TemplateBody=TEMPLATE,
        Parameters=[PARAMS[0], {"ParameterKey": "MaxSessionDuration", "ParameterValue": "7200"}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
        OperationId="op-2",
        OperationPreferences=PREFS,
    )
    assert {s for s, _o in instances(cfn).values()} == {"OUTDATED"}
    assert wait(cfn, "op-2")[0] == "FAILED"
    described = cfn.describe_stack_set(StackSetName=NAME)["StackSet"]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}[
        "MaxSessionDuration"
    ] == "7200"
    assert instances(cfn) == {
        "100000000000": ("OUTDATED", world.layout.ou_id("Root/Sandbox")),
        "100000000001": ("CURRENT", world.layout.ou_id("Root/Sandbox")),
    }
    results = cfn.list_stack_set_operation_results(StackSetName=NAME, OperationId="op-2")["Summaries"]
    assert [(r["Account"], r["Status"], r["StatusReason"]) for r in results] == [
        ("100000000000", "FAILED", "injected"),
        ("100000000001", "SUCCEEDED", ""),
    ]


def test_deletes_honour_ou_targets_and_retain_stacks(env: Any) -> None:
    """API_DeleteStackInstances: by OU target (narrowed by AccountFilterType); RetainStacks keeps stacks."""
    world, cfn = env
    sandbox, workloads = world.layout.ou_id("Root/Sandbox"), world.layout.ou_id("Root/Workloads")
    wait(cfn, create(cfn, [sandbox, workloads], "op-1"))
    cfn.delete_stack_instances(
        StackSetName=NAME,
        DeploymentTargets={
            "OrganizationalUnitIds": [workloads],
            "AccountFilterType": "INTERSECTION",
            "Accounts": ["100000000006"],
        },
        Regions=["us-east-1"],
        RetainStacks=False,
        OperationId="op-2",
    )
    wait(cfn, "op-2")
    cfn.delete_stack_instances(
        StackSetName=NAME,
        DeploymentTargets={"OrganizationalUnitIds": [sandbox]},
        Regions=["us-east-1"],
        RetainStacks=True,
        OperationId="op-3",
    )
    wait(cfn, "op-3")
    assert set(instances(cfn)) == world.accounts_in("Root/Workloads") - {"100000000006", "333333333333"} | {
        "333333333333"
    }
    assert cfn.describe_stack_set(StackSetName=NAME)["StackSet"]["OrganizationalUnitIds"] == [workloads]
    kept = sorted((s.account, s.retained) for s in world.service.stacks.values())
    assert ("100000000000", True) in kept and ("100000000001", True) in kept
    assert "100000000006" not in {a for a, _r in kept}


def test_parameter_overrides_follow_the_documented_rules(env: Any) -> None:
    """API_UpdateStackInstances: only the StackSet's parameters; a list without a key sets it back."""
    world, cfn = env
    wait(cfn, create(cfn, [world.layout.ou_id("Root/Sandbox")], "op-1"))

    def override(op: str, values: list[dict[str, str]]) -> None:
        cfn.update_stack_instances(
            StackSetName=NAME,
            DeploymentTargets={"Accounts": ["100000000000"]},
            Regions=["us-east-1"],
            ParameterOverrides=values,
            OperationId=op,
        )
        wait(cfn, op)

    with pytest.raises(ClientError) as unknown:
        override("op-2", [{"ParameterKey": "Project", "ParameterValue": "x"}])
    assert code(unknown) == "ValidationError"
    override("op-3", [{"ParameterKey": "MaxSessionDuration", "ParameterValue": "1800"}])
    got = cfn.describe_stack_instance(
        StackSetName=NAME, StackInstanceAccount="100000000000", StackInstanceRegion="us-east-1"
    )
    assert got["StackInstance"]["ParameterOverrides"] == [
        {"ParameterKey": "MaxSessionDuration", "ParameterValue": "1800"}
    ]
    override("op-4", [])
    got = cfn.describe_stack_instance(
        StackSetName=NAME, StackInstanceAccount="100000000000", StackInstanceRegion="us-east-1"
    )
    assert got["StackInstance"]["ParameterOverrides"] == []


def test_autodeployment_follows_accounts(env: Any) -> None:
    """API_AutoDeployment: accounts joining a target OU get an instance; leaving, it goes (stack retained)."""
    world, cfn = env
    wait(cfn, create(cfn, [world.layout.ou_id("Root/Sandbox")], "op-1"))
    world.move("100000000002", "Root/Sandbox")
    world.move("100000000000", "Root/Security")
    assert set(instances(cfn)) == {"100000000001", "100000000002"}
    assert [s.retained for s in world.service.stacks.values() if s.account == "100000000000"] == [True]


def test_suspended_accounts_are_skipped(env: Any) -> None:
    """API_StackInstanceComprehensiveStatus: SKIPPED_SUSPENDED_ACCOUNT."""
    world, cfn = env
    world.client("organizations").close_account(AccountId="100000000001")
    wait(cfn, create(cfn, [world.layout.ou_id("Root/Sandbox")], "op-1"))
    rows = {
        r["Account"]: r["StackInstanceStatus"]["DetailedStatus"]
        for r in cfn.list_stack_instances(StackSetName=NAME)["Summaries"]
    }
    assert rows == {"100000000000": "SUCCEEDED", "100000000001": "SKIPPED_SUSPENDED_ACCOUNT"}


def test_accounts_carry_state_only(env: Any) -> None:
    """Organizations retired the account `Status` field on 2026-09-09; responses carry `State`
    (orgs_manage_accounts_account_state): the emulator answers the same, so nothing can lean on Status."""
    world, _cfn = env
    org = world.client("organizations")
    org.close_account(AccountId="100000000001")
    parent = org.list_parents(ChildId="100000000001")["Parents"][0]["Id"]
    listed = {a["Id"]: a for a in org.list_accounts_for_parent(ParentId=parent)["Accounts"]}
    described = org.describe_account(AccountId="100000000001")["Account"]
    for account in (*listed.values(), described):
        assert "Status" not in account
    assert {i: a["State"] for i, a in listed.items()} == {
        "100000000000": "ACTIVE",
        "100000000001": "SUSPENDED",
    }


@pytest.mark.parametrize(
    "call", ["create_stack_instances", "update_stack_instances", "delete_stack_instances"]
)
def test_more_than_50_ou_ids_in_one_call_are_refused(env: Any, call: str) -> None:
    """API_Create|Update|DeleteStackInstances: at most 50 OUs per operation."""
    world, cfn = env
    ous = [world.layout.ou_id("Root/Sandbox")] * 51
    extra = {"RetainStacks": False} if call == "delete_stack_instances" else {}
    with pytest.raises(ClientError) as caught:
        getattr(cfn, call)(
            StackSetName=NAME,
            DeploymentTargets={"OrganizationalUnitIds": ous},
            Regions=["us-east-1"],
            OperationId=f"op-{call}",
            **extra,
        )
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "ValidationError",
        "At most 50 organizational units per operation",
    )


def test_delete_stackset_needs_it_empty(env: Any) -> None:
    """API_DeleteStackSet: StackSetNotEmptyException."""
    world, cfn = env
    wait(cfn, create(cfn, [world.layout.ou_id("Root/Sandbox")], "op-1"))
    with pytest.raises(ClientError) as full:
        cfn.delete_stack_set(StackSetName=NAME)
    assert code(full) == "StackSetNotEmptyException"


def test_delegated_admin_is_only_for_service_managed_stacksets(env: Any) -> None:
    """API_CreateStackSet, CallAs: "Valid only if the stack set's permissions model is SERVICE_MANAGED"."""
    _world, cfn = env
    with pytest.raises(ClientError) as refused:
        cfn.create_stack_set(
            StackSetName="org-roles-SelfManaged",
            TemplateBody=TEMPLATE,
            Parameters=PARAMS,
            Capabilities=["CAPABILITY_NAMED_IAM"],
            PermissionModel="SELF_MANAGED",
            CallAs="DELEGATED_ADMIN",
        )
    assert code(refused) == "ValidationError"
    cfn.create_stack_set(
        StackSetName="org-roles-SelfManaged",
        TemplateBody=TEMPLATE,
        Parameters=PARAMS,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        PermissionModel="SELF_MANAGED",
    )
    with pytest.raises(ClientError) as described:
        cfn.describe_stack_set(StackSetName="org-roles-SelfManaged", CallAs="DELEGATED_ADMIN")
    assert code(described) == "ValidationError"


def test_other_requests_still_reach_moto(env: Any) -> None:
    world, cfn = env
    assert cfn.list_stacks()["StackSummaries"] == []
    assert world.client("organizations").describe_organization()["Organization"]["MasterAccountId"] == MGMT


def test_autodeployment_ignores_account_filters(env: Any) -> None:
    """UserGuide stacksets-orgs-manage-auto-deployment: "Automatic deployments do not consider account level
    targeting filters": an account a DIFFERENCE filter left out gets an instance when it joins the OU."""
    world, cfn = env
    sandbox = world.layout.ou_id("Root/Sandbox")
    wait(cfn, create(cfn, [sandbox], "op-1", AccountFilterType="DIFFERENCE", Accounts=["100000000002"]))
    assert set(instances(cfn)) == {"100000000000", "100000000001"}
    world.move("100000000002", "Root/Sandbox")
    assert instances(cfn)["100000000002"] == ("CURRENT", sandbox)


def stacks_of(world: Any, account: str) -> list[tuple[str, bool]]:
    return sorted((s.name, s.retained) for s in world.service.stacks.values() if s.account == account)


def test_a_move_between_two_targets_deletes_then_creates(env: Any) -> None:
    """UserGuide stacksets-orgs-manage-auto-deployment: a move between target OUs "runs a delete operation"
    and "queues a create operation". The harsher reading for two targets of one StackSet: the instance is
    deleted and created again through the new OU, its stack replaced."""
    world, cfn = env
    cfn.update_stack_set(
        StackSetName=NAME,
        UsePreviousTemplate=True,
        Parameters=PARAMS,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
        OperationId="op-0",
    )
    world.service.drain()
    sandbox, security = world.layout.ou_id("Root/Sandbox"), world.layout.ou_id("Root/Security")
    wait(cfn, create(cfn, [sandbox, security], "op-1"))
    before = stacks_of(world, "100000000000")
    world.move("100000000000", "Root/Security")
    assert instances(cfn)["100000000000"] == ("CURRENT", security)
    after = stacks_of(world, "100000000000")
    assert len(before) == len(after) == 1 and before != after and after[0][1] is False


def test_a_retained_stack_makes_the_new_instance_fail_with_entity_already_exists(env: Any) -> None:
    """A move between two targets with RetainStacksOnAccountRemoval: the retained stack keeps the named
    role (IAM names are unique per account), so the queued create fails with EntityAlreadyExists."""
    world, cfn = env
    sandbox, security = world.layout.ou_id("Root/Sandbox"), world.layout.ou_id("Root/Security")
    wait(cfn, create(cfn, [sandbox, security], "op-1"))
    world.move("100000000000", "Root/Security")
    row = next(
        r for r in cfn.list_stack_instances(StackSetName=NAME)["Summaries"] if r["Account"] == "100000000000"
    )
    assert (row["Status"], row["StackInstanceStatus"]["DetailedStatus"]) == ("OUTDATED", "FAILED")
    assert row["StatusReason"].startswith("EntityAlreadyExists: a role this template names already exists")
    assert [retained for _name, retained in stacks_of(world, "100000000000")] == [True]


def test_operations_are_listed_oldest_first(env: Any) -> None:
    """API_ListStackSetOperations specifies no order: the emulator lists oldest first, so a reader that
    takes the first entry for the newest breaks here (the sync finds its operation by id instead)."""
    world, cfn = env
    wait(cfn, create(cfn, [world.layout.ou_id("Root/Sandbox")], "op-1"))
    wait(cfn, create(cfn, [world.layout.ou_id("Root/Security")], "op-2"))
    listed = cfn.list_stack_set_operations(StackSetName=NAME)["Summaries"]
    assert [o["OperationId"] for o in listed] == ["op-1", "op-2"]
    assert listed[0]["CreationTimestamp"] < listed[1]["CreationTimestamp"]


def _detailed(cfn: Any, *filters: tuple[str, str]) -> set[str]:
    rows = cfn.list_stack_instances(
        StackSetName=NAME, Filters=[{"Name": n, "Values": v} for n, v in filters]
    )["Summaries"]
    return {r["Account"] for r in rows}


def test_instance_filters_take_one_value_each_and_narrow_together(env: Any) -> None:
    """API_StackInstanceFilter: Values is one string; API_ListStackInstances: at most 3 filters. Whether a
    repeated name widens is not documented: the emulator narrows (every filter must hold), so asking for two
    statuses in one call finds nothing, and the sync asks one status per call."""
    world, cfn = env
    world.service.fail_accounts["100000000000"] = "denied"
    wait(cfn, create(cfn, [world.layout.ou_id("Root/Sandbox")], "op-1"))
    assert _detailed(cfn, ("DETAILED_STATUS", "FAILED")) == {"100000000000"}
    assert _detailed(cfn, ("DETAILED_STATUS", "SUCCEEDED")) == {"100000000001"}
    assert _detailed(cfn, ("DETAILED_STATUS", "FAILED"), ("DETAILED_STATUS", "SUCCEEDED")) == set()
    with pytest.raises(ClientError) as exc:
        _detailed(cfn, *[("DETAILED_STATUS", "FAILED")] * 4)
    assert code(exc) == "ValidationError"


def test_a_failed_delete_leaves_the_instance_inoperable_and_updates_skip_it(env: Any) -> None:
    """API_StackInstanceSummary (Status INOPERABLE): a failed DeleteStackInstances leaves the stack unstable,
    further UpdateStackSet operations skip it, and DeleteStackInstances with RetainStacks removes it."""
    world, cfn = env
    sandbox = world.layout.ou_id("Root/Sandbox")
    wait(cfn, create(cfn, [sandbox], "op-1"))
    world.service.fail_accounts["100000000000"] = "the role is in use"
    cfn.delete_stack_instances(
        StackSetName=NAME,
        DeploymentTargets={"OrganizationalUnitIds": [sandbox]},
        Regions=["us-east-1"],
        RetainStacks=False,
        OperationId="op-2",
        OperationPreferences=PREFS,
    )
    assert wait(cfn, "op-2")[0] == "FAILED"
    assert instances(cfn) == {"100000000000": ("INOPERABLE", sandbox)}
    assert _detailed(cfn, ("DETAILED_STATUS", "INOPERABLE")) == {"100000000000"}
    world.service.fail_accounts.clear()
    cfn.update_stack_set(
        StackSetName=NAME,
        TemplateBody=TEMPLATE,
        Parameters=PARAMS,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        OperationId="op-3",
    )
    assert wait(cfn, "op-3")[0] == "SUCCEEDED"
    assert world.service.record(NAME).operations["op-3"].targets == []
    assert instances(cfn) == {"100000000000": ("INOPERABLE", sandbox)}
    cfn.delete_stack_instances(
        StackSetName=NAME,
        DeploymentTargets={"Accounts": ["100000000000"]},
        Regions=["us-east-1"],
        RetainStacks=True,
        OperationId="op-4",
    )
    assert wait(cfn, "op-4")[0] == "SUCCEEDED"
    assert instances(cfn) == {}


def test_autodeployment_failures_leave_failed_instances_and_no_listed_operation(env: Any) -> None:
    """API_AutoDeployment deploys to accounts that join a target OU; whether those runs are listed by
    ListStackSetOperations is not documented, so the emulator lists none, and a failed one shows only as a
    FAILED instance (API_StackInstanceComprehensiveStatus)."""
    world, cfn = env
    wait(cfn, create(cfn, [world.layout.ou_id("Root/Sandbox")], "op-1"))
    world.service.fail_accounts["100000000002"] = "denied"
    world.move("100000000002", "Root/Sandbox")
    assert _detailed(cfn, ("DETAILED_STATUS", "FAILED")) == {"100000000002"}
    assert [o["OperationId"] for o in cfn.list_stack_set_operations(StackSetName=NAME)["Summaries"]] == [
        "op-1"
    ]


def test_a_tag_only_update_limited_to_accounts_leaves_the_others_alone(env: Any) -> None:
    """API_UpdateStackSet (Accounts, DeploymentTargets): with neither template nor parameters changed, only
    the given accounts' instances are updated and every other keeps its status; with the template given,
    every instance is marked OUTDATED first."""
    world, cfn = env
    wait(cfn, create(cfn, [world.layout.ou_id("Root/Sandbox")], "op-1"))
    cfn.update_stack_set(
        StackSetName=NAME,
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in PARAMS],
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Tags=[{"Key": "OrgStackSetsHash", "Value": "v2.a.b.c.op-2"}],
        DeploymentTargets={"Accounts": ["100000000000"]},
        Regions=["us-east-1"],
        OperationId="op-2",
    )
    assert instances(cfn)["100000000001"][0] == "CURRENT"
    assert wait(cfn, "op-2")[0] == "SUCCEEDED"
    assert world.service.record(NAME).operations["op-2"].targets == [("100000000000", "us-east-1")]
    tags = cfn.describe_stack_set(StackSetName=NAME)["StackSet"]["Tags"]
    assert {"Key": "OrgStackSetsHash", "Value": "v2.a.b.c.op-2"} in tags


def stack_template(world: Any, account: str) -> str:
    """The sha256 of the template the account's stack of the test StackSet was last deployed with."""
    return str(
        next(
            s.template_sha
            for s in world.service.stacks.values()
            if s.account == account and s.stackset == NAME
        )
    )


def test_a_template_update_limited_to_accounts_leaves_the_others_on_their_template(env: Any) -> None:
    """API_UpdateStackSet (Accounts): with a new template limited to some accounts, every instance is marked
    OUTDATED, only those accounts' stacks get the new template, the others keep theirs until their own
    (UsePreviousTemplate) update. API_DeploymentTargets: "For update operations, you can specify either
    Accounts or OrganizationalUnitIds": both at once is refused (the harsher reading)."""
    world, cfn = env
    sandbox = world.layout.ou_id("Root/Sandbox")
    wait(cfn, create(cfn, [sandbox], "op-1"))
    old = {a: stack_template(world, a) for a in ("100000000000", "100000000001")}
    new_template = TEMPLATE.replace("Default: 3600", "Default: 7200")
    update = {
        "StackSetName": NAME,
        "TemplateBody": new_template,
        "Parameters": PARAMS,
        "Capabilities": ["CAPABILITY_NAMED_IAM"],
        "Regions": ["us-east-1"],
        "OperationPreferences": PREFS,
    }
    with pytest.raises(ClientError) as both:
        cfn.update_stack_set(
            **update,
            DeploymentTargets={"Accounts": ["100000000000"], "OrganizationalUnitIds": [sandbox]},
            OperationId="op-x",
        )
    assert code(both) == "ValidationError"
    cfn.update_stack_set(**update, DeploymentTargets={"Accounts": ["100000000000"]}, OperationId="op-2")
    assert {s for s, _o in instances(cfn).values()} == {"OUTDATED"}
    assert wait(cfn, "op-2")[0] == "SUCCEEDED"
    stacks = {a: stack_template(world, a) for a in old}
    assert stacks["100000000000"] != old["100000000000"]
    assert stacks["100000000001"] == old["100000000001"]
    assert instances(cfn)["100000000001"][0] == "OUTDATED"
    cfn.update_stack_set(
        StackSetName=NAME,
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in PARAMS],
        Capabilities=["CAPABILITY_NAMED_IAM"],
        DeploymentTargets={"Accounts": ["100000000001"]},
        Regions=["us-east-1"],
        OperationId="op-3",
    )
    assert wait(cfn, "op-3")[0] == "SUCCEEDED"
    assert stack_template(world, "100000000001") == stacks["100000000000"]
    assert {s for s, _o in instances(cfn).values()} == {"CURRENT"}
