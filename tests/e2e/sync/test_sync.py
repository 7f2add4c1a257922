"""End to end over HTTP: the sync against moto's server on 127.0.0.1 with the StackSet fidelity layer.

The organization is tests/fixtures/sync's, seeded with fixed ids (two accounts per OU):
  Root                 111111111111 (management)
  Root/Sandbox         100000000000, 100000000001
  Root/Security        222222222222 (login), 100000000002, 100000000003
  Root/Workloads       333333333333 (excluded from Developer), 100000000004, 100000000005
  Root/Workloads/Dev   100000000006, 100000000007
  Root/Workloads/Prod  100000000008, 100000000009 (pinned ou-ab12-cd34ef56; Developer MaxSessionDuration 1800)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.core.errors import GuardError, OrgReadError
from pipeline.sync import apply_plan, plan_sync
from tests.support.sync import EXCLUDED, LOGIN, MGMT, edit, write_variant

DEV = "org-roles-Developer"
RO = "org-roles-ReadOnly"
LOGIN_SS = "org-roles-login-account"
PROD = "ou-ab12-cd34ef56"
SANDBOX = ["100000000000", "100000000001"]
SECURITY = ["100000000002", "100000000003"]
WORKLOADS = ["100000000004", "100000000005"]
DEV_OU = ["100000000006", "100000000007"]
PROD_ACCTS = ["100000000008", "100000000009"]


def kinds(report: Any, name: str) -> list[str]:
    plan = next(s for s in report.plan.stacksets if s.name == name)
    return [op.kind for op in plan.ops]


def iam_roles(world: Any, account: str) -> dict[str, int]:
    """Role name -> MaxSessionDuration in an account, read over HTTP as that account."""
    iam = world.client("iam")
    iam.meta.events.register(
        "before-sign.iam.*", lambda request, **_: request.headers.add_header("x-moto-account-id", account)
    )
    return {r["RoleName"]: r["MaxSessionDuration"] for r in iam.list_roles()["Roles"]}


def test_first_rollout_reaches_every_depth(make_world: Any) -> None:
    world = make_world(materialize=True)
    report = world.sync()
    assert report.outcome == "success"
    assert report.counts() == {"created": 4}
    ws, sb = world.layout.ou_id("Root/Workloads"), world.layout.ou_id("Root/Sandbox")
    assert world.instances(DEV) == {
        **{a: (sb, "CURRENT", {}) for a in SANDBOX},
        **{a: (ws, "CURRENT", {}) for a in WORKLOADS + DEV_OU},
        **{a: (ws, "CURRENT", {"MaxSessionDuration": "1800"}) for a in PROD_ACCTS},
    }
    assert set(world.instances(RO)) == {
        LOGIN,
        EXCLUDED,
        *SANDBOX,
        *SECURITY,
        *WORKLOADS,
        *DEV_OU,
        *PROD_ACCTS,
    }
    assert set(world.instances(LOGIN_SS)) == {LOGIN}
    # The roles exist in the accounts, at depth 1 and 2, with the per-OU value where one applies.
    assert iam_roles(world, "100000000000") == {"Developer": 3600, "ReadOnly": 3600}
    assert iam_roles(world, "100000000006") == {"Developer": 3600, "ReadOnly": 3600}
    assert iam_roles(world, "100000000008") == {"Developer": 1800, "ReadOnly": 3600}
    assert iam_roles(world, EXCLUDED) == {"ReadOnly": 3600}
    # The management account: no StackSet instance ever, its roles come from the plain stack.
    assert iam_roles(world, MGMT) == {"BreakGlass": 3600}
    outcome = {s.name: s.result for s in report.stacksets}
    assert outcome == {
        DEV: "created",
        RO: "created",
        LOGIN_SS: "created",
        "org-roles-management-account": "created",
    }


def test_second_run_is_a_no_op_with_minimal_reads(make_world: Any) -> None:
    world = make_world()
    assert world.sync("first").outcome == "success"
    before = list(world.writes())
    report = world.sync("second")
    assert report.counts() == {"unchanged": 4}
    assert world.writes() == before
    # One walk of the tree (DescribeOrganization, ListRoots, and per OU one page of OUs and one of
    # accounts: 6 OUs with the root), ListStackSets, per StackSet DescribeStackSet and the operation named
    # in its hash tag (did the rollout that wrote the hash succeed?), and for the management-account stack
    # GetCallerIdentity (is this the management account?) and DescribeStacks. Instances: per role StackSet
    # one ListStackInstances per broken detailed status (FAILED, INOPERABLE, CANCELLED: a filter takes one
    # value), one for Developer's excluded account, which sits under its target (did AutoDeployment reach
    # it?), and one page of the login-account StackSet's (its targets are accounts).
    assert report.calls == {
        "reads": 31,
        "writes": 0,
        "by_operation": {
            "DescribeOrganization": 1,
            "DescribeStackSet": 3,
            "DescribeStackSetOperation": 3,
            "DescribeStacks": 1,
            "GetCallerIdentity": 1,
            "ListAccountsForParent": 6,
            "ListOrganizationalUnitsForParent": 6,
            "ListRoots": 1,
            "ListStackInstances": 8,
            "ListStackSets": 1,
        },
    }


def _developer(change: Any) -> Any:
    def apply(data: dict[str, Any]) -> None:
        change(edit(data, DEV))

    return apply


def test_role_change_updates_only_that_stackset(make_world: Any, tmp_path: Path) -> None:
    world = make_world(materialize=True)
    world.sync("first")
    template = world.manifest_dir / "templates" / "org" / "roles" / "Developer.yaml"
    changed = write_variant(tmp_path / "v2")
    body = (
        (changed / "templates/org/roles/Developer.yaml").read_text().replace("Default: 3600", "Default: 7200")
    )
    (changed / "templates/org/roles/Developer.yaml").write_text(body)
    world.use(
        write_variant(
            tmp_path / "v3",
            _developer(lambda s: s["parameters"].update(MaxSessionDuration="7200")),
            base=changed,
        )
    )
    report = world.sync("second")
    assert report.counts() == {"updated": 1, "unchanged": 3}
    assert kinds(report, DEV) == ["update-stackset"]
    assert template.read_text() != body
    assert iam_roles(world, "100000000006")["Developer"] == 7200
    assert iam_roles(world, "100000000008")["Developer"] == 1800  # the Prod override still wins
    assert {s for _a, _r, s in [(i, 0, st) for i, (_o, st, _p) in world.instances(DEV).items()]} == {
        "CURRENT"
    }


def test_a_failed_rollout_is_repaired_by_the_next_run(make_world: Any, tmp_path: Path) -> None:
    """The update that carries the hash fails on one account: AWS keeps the tag anyway (API_UpdateStackSet),
    so the next run must not trust it, and repairs the failed instance."""
    world = make_world()
    assert world.sync("first").outcome == "success"
    changed = write_variant(tmp_path / "v2")
    body = (
        (changed / "templates/org/roles/Developer.yaml").read_text().replace("Default: 3600", "Default: 7200")
    )
    (changed / "templates/org/roles/Developer.yaml").write_text(body)
    world.use(write_variant(tmp_path / "v3", base=changed))
    world.service.fail_accounts[SANDBOX[0]] = "a service control policy denies iam:UpdateRole"
    report = world.sync("second")
    assert kinds(report, DEV) == ["update-stackset"]
    dev = next(s for s in report.stacksets if s.name == DEV)
    assert (dev.result, [f.account for f in dev.failures]) == ("failed", [SANDBOX[0]])
    assert world.instances(DEV)[SANDBOX[0]][1] == "OUTDATED"
    world.service.fail_accounts.clear()
    report = world.sync("third")
    assert {s.name: s.result for s in report.stacksets}[DEV] == "updated"
    commit = next(s for s in report.plan.stacksets if s.name == DEV).ops[-1]
    assert (commit.kind, getattr(commit, "accounts", None)) == ("commit", (SANDBOX[0],))
    assert {status for _ou, status, _o in world.instances(DEV).values()} == {"CURRENT"}
    assert world.sync("fourth").counts() == {"unchanged": 4}


def test_targets_added_and_removed(make_world: Any, tmp_path: Path) -> None:
    world = make_world()
    world.sync("first")

    def move_target(spec: dict[str, Any]) -> None:
        spec["targets"] = [t for t in spec["targets"] if t["ou_path"] != "Root/Sandbox"]
        spec["targets"].append(
            {"ou_path": "Root/Security", "ou_id": None, "excluded_accounts": [], "source": "x"}
        )

    world.use(write_variant(tmp_path / "v2", _developer(move_target)))
    report = world.sync("second")
    assert report.outcome == "success"
    assert kinds(report, DEV) == ["delete-instances", "create-instances"]
    delete = report.plan.stacksets[0].ops[0]
    assert (delete.paths, delete.count, delete.retain_stacks) == (("Root/Sandbox",), 2, False)
    assert set(world.instances(DEV)) == {LOGIN, *SECURITY, *WORKLOADS, *DEV_OU, *PROD_ACCTS}
    assert [s for s in world.service.stacks.values() if s.retained] == []
    rows = {o.path: o.stacksets for o in report.ous}
    assert rows["Root/Sandbox"] == (("org-roles-Developer", "remove", "updated"),)
    assert ("org-roles-Developer", "add", "updated") in rows["Root/Security"]


def test_moving_an_attachment_down_replaces_the_stacks_it_keeps(make_world: Any, tmp_path: Path) -> None:
    """ReadOnly moves from Root to Root/Workloads (retain_stacks: true, the opt-in). Workloads accounts lose their
    instance and get a new one in the same plan: a retained stack would still own the named role (the new
    instance fails with EntityAlreadyExists, and the old role stays assumable), so their stacks are
    deleted; accounts that truly leave keep theirs."""
    world = make_world(materialize=True)
    assert world.sync("first").outcome == "success"

    def down(data: dict[str, Any]) -> None:
        edit(data, RO)["targets"] = [
            {"ou_path": "Root/Workloads", "ou_id": None, "excluded_accounts": [], "source": "x"}
        ]
        data["org"]["deletion"].update(
            retain_stacks=True, max_instance_deletions=100, max_instance_deletion_percentage=100
        )

    world.use(write_variant(tmp_path / "v2", down))
    report = world.sync("second")
    assert report.outcome == "success", report.stacksets
    ro = next(s for s in report.plan.stacksets if s.name == RO)
    staying = sorted({EXCLUDED, *WORKLOADS, *DEV_OU, *PROD_ACCTS})
    assert [(op.kind, getattr(op, "accounts", ()), getattr(op, "retain_stacks", None)) for op in ro.ops] == [
        ("delete-instances", tuple(staying), False),
        ("delete-instances", (), True),
        ("create-instances", (), None),
    ]
    assert set(world.instances(RO)) == set(staying)
    retained = sorted(s.account for s in world.service.stacks.values() if s.stackset == RO and s.retained)
    assert retained == sorted({LOGIN, *SANDBOX, *SECURITY})
    assert iam_roles(world, "100000000004") == {"Developer": 3600, "ReadOnly": 3600}
    assert iam_roles(world, "100000000000") == {"Developer": 3600, "ReadOnly": 3600}  # retained


def test_account_moves_follow_autodeployment_and_overrides(make_world: Any) -> None:
    world = make_world()
    world.sync("first")
    world.move("100000000008", "Root/Security")  # leaves Prod: no Developer any more
    world.move("100000000002", "Root/Workloads/Prod")  # joins Prod: Developer with Prod's value
    report = world.sync("second")
    assert report.outcome == "success"
    assert kinds(report, DEV) == ["update-overrides", "update-overrides", "commit"]
    reset, prod = report.plan.stacksets[0].ops[:2]
    assert (reset.accounts, reset.parameters) == (tuple(SANDBOX + WORKLOADS + DEV_OU), ())
    assert (prod.accounts, prod.parameters) == (
        ("100000000002", "100000000009"),
        (("MaxSessionDuration", "1800"),),
    )
    ws = world.layout.ou_id("Root/Workloads")
    got = world.instances(DEV)
    assert "100000000008" not in got
    assert got["100000000002"] == (ws, "CURRENT", {"MaxSessionDuration": "1800"})
    # AutoDeployment deleted the stack of the account that left (RetainStacksOnAccountRemoval false).
    assert [
        s for s in world.service.stacks.values() if s.stackset == DEV and s.account == "100000000008"
    ] == []
    assert kinds(report, RO) == []
    assert world.sync("third").counts() == {"unchanged": 4}


def test_configured_ou_missing_is_skipped_then_added(make_world: Any) -> None:
    def no_sandbox(layout: Any) -> None:
        del layout.ous["Root/Sandbox"]
        layout.accounts = [a for a in layout.accounts if a.path != "Root/Sandbox"]

    world = make_world(layout=no_sandbox)
    report = world.sync("first")
    assert report.outcome == "success"
    ous = {o.path: o for o in report.ous}
    assert (ous["Root/Sandbox"].state, ous["Root/Sandbox"].stacksets) == (
        "missing",
        ((DEV, "skip", "created"),),
    )
    assert set(world.instances(DEV)) == {*WORKLOADS, *DEV_OU, *PROD_ACCTS}
    org = world.client("organizations")
    new = org.create_organizational_unit(ParentId=world.layout.root_id, Name="Sandbox")["OrganizationalUnit"][
        "Id"
    ]
    org.move_account(
        AccountId="100000000003", SourceParentId=world.layout.ou_id("Root/Security"), DestinationParentId=new
    )
    report = world.sync("second")
    assert kinds(report, DEV) == ["create-instances"]
    assert world.instances(DEV)["100000000003"] == (new, "CURRENT", {})


def test_empty_ou_is_reported_and_skipped(make_world: Any) -> None:
    def empty_sandbox(layout: Any) -> None:
        layout.accounts = [a for a in layout.accounts if a.path != "Root/Sandbox"]

    world = make_world(layout=empty_sandbox)
    report = world.sync()
    ous = {o.path: o for o in report.ous}
    assert (ous["Root/Sandbox"].state, ous["Root/Sandbox"].accounts) == ("empty", 0)
    assert world.layout.ou_id("Root/Sandbox") not in world.service.record(DEV).ou_ids


def test_deletion_guard_stops_before_any_write(make_world: Any, tmp_path: Path) -> None:
    world = make_world()
    world.sync("first")

    def shrink(data: dict[str, Any]) -> None:
        data["org"]["deletion"]["max_instance_deletions"] = 1
        spec = edit(data, DEV)
        spec["targets"] = [t for t in spec["targets"] if t["ou_path"] != "Root/Sandbox"]

    world.use(write_variant(tmp_path / "v2", shrink))
    writes = list(world.writes())
    session = world.session("second")
    plan = plan_sync(session)
    with pytest.raises(GuardError) as caught:
        apply_plan(session, plan)
    assert caught.value.reasons == [
        "the plan deletes 2 stack instances, more than deletion.max_instance_deletions (1) in org.yaml"
    ]
    assert world.writes() == writes
    assert session.clients.counter.writes == 0


def test_suspicious_org_read_never_deletes(make_world: Any, tmp_path: Path) -> None:
    world = make_world()
    world.sync("first")

    def odd(data: dict[str, Any]) -> None:
        # Most OUs the manifest names are absent (as after reading the wrong organization), and a
        # removal is planned: the guard must stop it.
        data["ous"] += [{"path": f"Root/Gone{i}", "ou_id": None} for i in range(8)]
        edit(data, RO)["targets"] = [
            {"ou_path": "Root/Workloads", "ou_id": None, "excluded_accounts": [], "source": "x"}
        ]
        data["org"]["deletion"].update(max_instance_deletions=100, max_instance_deletion_percentage=100)

    world.use(write_variant(tmp_path / "v2", odd))
    with pytest.raises(GuardError) as caught:
        world.sync("second")
    assert "the organization read looks wrong (only 5 of the manifest's 13 OUs exist" in str(caught.value)
    assert world.writes().count("DeleteStackInstances") == 0


def test_failed_org_read_stops_everything(make_world: Any) -> None:
    world = make_world()
    session = world.session()

    def deny(**kwargs: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListAccountsForParent"
        )

    session.clients.organizations.meta.events.register(
        "before-call.organizations.ListAccountsForParent", deny
    )
    with pytest.raises(OrgReadError, match="reading the organization failed: AccessDeniedException: no"):
        plan_sync(session)
    assert world.writes() == []


def test_outside_operation_is_waited_out(make_world: Any, tmp_path: Path) -> None:
    world = make_world(running_ticks=8)
    world.sync("first")
    world.client("cloudformation").detect_stack_set_drift(StackSetName=DEV, OperationId="someone-else")
    world.use(write_variant(tmp_path / "v2", _developer(lambda s: s.update(description="changed"))))
    report = world.sync("second")
    assert report.outcome == "success"
    assert any(e.message == "waiting for operation someone- already in progress" for e in world.events)
    assert world.service.record(DEV).operations["someone-else"].status == "SUCCEEDED"


def test_self_managed_targets_accounts(make_world: Any, tmp_path: Path) -> None:
    def self_managed(data: dict[str, Any]) -> None:
        data["org"].update(
            permission_model="SELF_MANAGED",
            administration_role_arn=f"arn:aws:iam::{MGMT}:role/AWSCloudFormationStackSetAdministrationRole",
            execution_role_name="AWSCloudFormationStackSetExecutionRole",
        )

    world = make_world(write_variant(tmp_path / "self", self_managed))
    assert world.sync("first").outcome == "success"
    assert world.instances(DEV) == {
        a: (None, "CURRENT", {"MaxSessionDuration": "1800"} if a in PROD_ACCTS else {})
        for a in SANDBOX + WORKLOADS + DEV_OU + PROD_ACCTS
    }
    record = world.service.record(DEV)
    assert (record.permission_model, record.exec_role) == (
        "SELF_MANAGED",
        "AWSCloudFormationStackSetExecutionRole",
    )
    world.move("100000000000", "Root/Security")  # no AutoDeployment: the sync removes and adds by account
    world.move("100000000002", "Root/Workloads/Dev")
    report = world.sync("second")
    assert kinds(report, DEV) == ["delete-instances", "create-instances"]
    assert set(world.instances(DEV)) == {"100000000001", "100000000002", *WORKLOADS, *DEV_OU, *PROD_ACCTS}


def test_self_managed_holds_removals_while_a_target_ou_is_missing(make_world: Any, tmp_path: Path) -> None:
    """An unpinned target OU renamed outside the manifest looks missing: its accounts keep their
    instances (a rename must not look like a removal), and the plan says why."""

    def self_managed(data: dict[str, Any]) -> None:
        data["org"].update(
            permission_model="SELF_MANAGED",
            administration_role_arn=f"arn:aws:iam::{MGMT}:role/AWSCloudFormationStackSetAdministrationRole",
            execution_role_name="AWSCloudFormationStackSetExecutionRole",
        )

    world = make_world(write_variant(tmp_path / "self", self_managed))
    assert world.sync("first").outcome == "success"
    world.client("organizations").update_organizational_unit(
        OrganizationalUnitId=world.layout.ou_id("Root/Sandbox"), Name="Playground"
    )
    report = world.sync("second")
    assert report.plan.deletions == 0
    assert world.writes().count("DeleteStackInstances") == 0
    assert set(world.instances(DEV)) == {*SANDBOX, *WORKLOADS, *DEV_OU, *PROD_ACCTS}
    plan = next(s for s in report.plan.stacksets if s.name == DEV)
    assert "removal of 2 account(s) held: target Root/Sandbox is not in the organization" in plan.notes
    assert sorted((t.path, t.change) for t in plan.targets if t.change == "hold") == [
        (SANDBOX[0], "hold"),
        (SANDBOX[1], "hold"),
    ]


def test_delegated_admin(make_world: Any, tmp_path: Path) -> None:
    admin = "100000000002"

    def delegated(data: dict[str, Any]) -> None:
        data["org"]["call_as"] = "DELEGATED_ADMIN"
        data["management_account_stack"] = None

    def register(layout: Any) -> None:
        layout.delegated_admins.append(admin)

    world = make_world(write_variant(tmp_path / "delegated", delegated), layout=register)
    session = world.session()
    session.clients.cloudformation.meta.events.register(
        "before-sign.cloudformation.*",
        lambda request, **_: request.headers.add_header("x-moto-account-id", admin),
    )
    report = apply_plan(session, plan_sync(session))
    assert report.outcome == "success"
    # Service-managed StackSets live in the management account, also when a delegated admin creates them
    # (API_CreateStackSet, CallAs): their ARN carries its id, and the management account sees them.
    assert {r.admin_account for r in world.service.stacksets.values()} == {MGMT}
    cfn = session.clients.cloudformation
    arn = cfn.describe_stack_set(StackSetName=DEV, CallAs="DELEGATED_ADMIN")["StackSet"]["StackSetARN"]
    assert arn.startswith(f"arn:aws:cloudformation:us-east-1:{MGMT}:stackset/{DEV}:")
    as_management = world.client("cloudformation")
    assert DEV in {s["StackSetName"] for s in as_management.list_stack_sets()["Summaries"]}
    # The next run, still as the delegated admin, finds them where they are: nothing to do.
    again = world.session("second")
    again.clients.cloudformation.meta.events.register(
        "before-sign.cloudformation.*",
        lambda request, **_: request.headers.add_header("x-moto-account-id", admin),
    )
    assert apply_plan(again, plan_sync(again)).counts() == {"unchanged": 3}


def test_management_stack_is_refused_to_a_delegated_admin(make_world: Any, tmp_path: Path) -> None:
    """With the delegated admin's credentials the management-account stack would land in the delegated
    admin's account: the sync refuses it (one GetCallerIdentity) and deploys the StackSets."""
    admin = "100000000002"
    world = make_world(
        write_variant(tmp_path / "delegated", lambda d: d["org"].update(call_as="DELEGATED_ADMIN")),
        layout=lambda layout: layout.delegated_admins.append(admin),
        materialize=True,
    )
    session = world.session()
    for client in (session.clients.cloudformation, session.clients.sts):
        client.meta.events.register(
            "before-sign.*.*", lambda request, **_: request.headers.add_header("x-moto-account-id", admin)
        )
    report = apply_plan(session, plan_sync(session))
    assert {s.name: s.result for s in report.stacksets} == {
        DEV: "created",
        RO: "created",
        LOGIN_SS: "created",
        "org-roles-management-account": "failed",
    }
    mgmt = next(s for s in report.stacksets if s.name == "org-roles-management-account")
    assert mgmt.message == (
        f"not deployed: the sync runs as account {admin}, not the management account {MGMT}, so the "
        "management-account stack would land in the wrong account; deploy it with the management "
        "account's credentials (python -m pipeline sync there)"
    )
    assert report.calls["by_operation"]["GetCallerIdentity"] == 1
    assert world.client("cloudformation").list_stacks()["StackSummaries"] == []
    assert iam_roles(world, admin) == {"ReadOnly": 3600}


def test_not_a_delegated_admin_fails_cleanly(make_world: Any, tmp_path: Path) -> None:
    world = make_world(
        write_variant(tmp_path / "delegated", lambda d: d["org"].update(call_as="DELEGATED_ADMIN"))
    )
    report = world.sync()
    assert report.outcome == "failed"
    dev = next(s for s in report.stacksets if s.name == DEV)
    assert dev.message.startswith(
        "creating the StackSet failed: ValidationError: Account 111111111111 is not a registered delegated administrator"
    )


def test_pinned_ou_renamed_is_reported(make_world: Any) -> None:
    world = make_world()
    world.sync("first")
    world.client("organizations").update_organizational_unit(OrganizationalUnitId=PROD, Name="Production")
    report = world.sync("second")
    prod = next(o for o in report.ous if o.path == "Root/Workloads/Prod")
    assert (prod.state, prod.message) == (
        "renamed",
        f"pinned id {PROD} is now at Root/Workloads/Production (renamed or moved)",
    )
    assert report.counts() == {"unchanged": 4}


def test_orphans_are_reported_then_deleted_when_allowed(make_world: Any, tmp_path: Path) -> None:
    world = make_world()
    world.sync("first")

    def drop(data: dict[str, Any]) -> None:
        data["stacksets"] = [s for s in data["stacksets"] if s["name"] != RO]

    world.use(write_variant(tmp_path / "v2", drop))
    report = world.sync("second")
    orphan = next(s for s in report.stacksets if s.name == RO)
    assert (orphan.result, orphan.operations) == ("orphan", ())

    def allow(data: dict[str, Any]) -> None:
        drop(data)
        data["org"]["deletion"].update(
            delete_orphaned_stacksets=True, max_instance_deletions=100, max_instance_deletion_percentage=100
        )

    world.use(write_variant(tmp_path / "v3", allow))
    report = world.sync("third")
    assert next(s for s in report.stacksets if s.name == RO).result == "deleted"
    assert [r.status for r in world.service.stacksets.values() if r.name == RO] == ["DELETED"]
    assert [s for s in world.service.stacks.values() if s.stackset == RO] == []  # deleted, not retained


def test_refuses_another_organization(make_world: Any, tmp_path: Path) -> None:
    from pipeline.core.errors import WrongOrganizationError

    world = make_world(
        write_variant(tmp_path / "pinned", lambda d: d["org"].update(organization_id="o-zzzzzzzzzz")),
        layout=lambda org: setattr(org, "org_id", "o-loc4lorg01"),
    )
    with pytest.raises(
        WrongOrganizationError, match=r"reach organization o-loc4lorg01, but org\.yaml pins o-zzzzzzzzzz"
    ):
        world.sync()
    assert world.writes() == []
