"""The pure planner, desired state and guard: exact operations for each situation, no AWS at all."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.cli.files import load_manifest
from pipeline.core.desired import NO_OVERRIDES, DesiredStackSet, HashTag, content_for, desire
from pipeline.core.guard import check
from pipeline.core.live import LiveInstance, LiveStack, LiveStackSet
from pipeline.core.manifest import HASH_TAG, DeletionPolicy, Manifest
from pipeline.core.ops import (
    CommitHash,
    CreateInstances,
    CreateStackSet,
    DeleteInstances,
    DeleteStackSet,
    Op,
    UpdateOverrides,
    UpdateStackSet,
)
from pipeline.core.org import Account, OrgTree, OrgUnit, assess_read, resolve
from pipeline.core.planner import (
    StackSetPlan,
    SyncPlan,
    management_tag,
    needs_instances,
    plan_management,
    plan_orphan,
    plan_stackset,
)
from tests.support.sync import FIXTURE

M = load_manifest(FIXTURE / "manifest.json")
ROOT_ID, SB, SEC, WS, DEV_OU, PROD = (
    "r-ab12",
    "ou-ab12-sandbox1",
    "ou-ab12-security",
    "ou-ab12-workload",
    "ou-ab12-devdev01",
    "ou-ab12-cd34ef56",
)
PLACES = {
    "111111111111": ROOT_ID,
    "100000000000": SB,
    "100000000001": SB,
    "222222222222": SEC,
    "100000000002": SEC,
    "333333333333": WS,
    "100000000004": WS,
    "100000000006": DEV_OU,
    "100000000008": PROD,
    "100000000009": PROD,
}
DEV = "org-roles-Developer"
REGIONS = ("us-east-1",)


def tree(
    places: dict[str, str] = PLACES, suspended: tuple[str, ...] = (), drop: tuple[str, ...] = ()
) -> OrgTree:
    units = {
        ROOT_ID: OrgUnit(ROOT_ID, "Root", None, "Root"),
        SB: OrgUnit(SB, "Sandbox", ROOT_ID, "Root/Sandbox"),
        SEC: OrgUnit(SEC, "Security", ROOT_ID, "Root/Security"),
        WS: OrgUnit(WS, "Workloads", ROOT_ID, "Root/Workloads"),
        DEV_OU: OrgUnit(DEV_OU, "Dev", WS, "Root/Workloads/Dev"),
        PROD: OrgUnit(PROD, "Prod", WS, "Root/Workloads/Prod"),
    }
    units = {k: v for k, v in units.items() if k not in drop}
    accounts = {
        a: Account(a, a, p, "SUSPENDED" if a in suspended else "ACTIVE")
        for a, p in places.items()
        if p in units
    }
    return OrgTree("o-abcdefghij", "111111111111", ROOT_ID, units, accounts)


def desired(name: str = DEV, manifest: Manifest = M, org: OrgTree | None = None) -> DesiredStackSet:
    org = org or tree()
    return desire(manifest.stackset(name), manifest, org, resolve(manifest, org))


def live_from(
    d: DesiredStackSet, tag: str | None, instances: tuple[LiveInstance, ...] | None = (), **changes: Any
) -> LiveStackSet:
    c = d.content
    base = LiveStackSet(
        name=d.name,
        permission_model=c.permission_model,
        template_sha256=c.template_sha256,
        description=c.description,
        parameters=dict(c.parameters),
        capabilities=c.capabilities,
        tags={**dict(c.tags), **({HASH_TAG: tag} if tag else {})},
        ou_ids=tuple(sorted({i.ou_id for i in instances or () if i.ou_id})),
        regions=REGIONS,
        auto_deployment=c.auto_deployment,
        instances=instances,
    )
    return dataclasses.replace(base, **changes)


def deployed(d: DesiredStackSet) -> tuple[LiveInstance, ...]:
    """Instances exactly as the desired state wants them."""
    by_target = {a: t.ou_id for t in d.targets for a in t.accounts}
    return tuple(LiveInstance(a, "us-east-1", by_target[a]) for a in d.accounts)


POLICY = DeletionPolicy()
PROD_OVERRIDE = UpdateOverrides(
    stackset=DEV,
    regions=REGIONS,
    accounts=("100000000008", "100000000009"),
    parameters=(("MaxSessionDuration", "1800"),),
    paths=("Root/Workloads/Prod",),
)


def test_content_of_a_role_stackset() -> None:
    c = content_for(M.stackset(DEV), M)
    # RetainStacksOnAccountRemoval false: an account that leaves its OUs loses the role (revocation).
    assert (c.auto_deployment, c.permission_model, c.capabilities) == (
        (True, False),
        "SERVICE_MANAGED",
        ("CAPABILITY_NAMED_IAM",),
    )
    assert dict(c.tags) == {
        "ManagedBy": "org-stacksets",
        "OrgStackSetsRole": "Developer",
        "Project": "org-roles",
    }
    assert content_for(M.stackset("org-roles-login-account"), M).auto_deployment == (False, False)


@dataclasses.dataclass(frozen=True)
class Expected:
    """Every plan field a scenario pins, exactly: the operations in order, the action, notes, deletions
    counted for the guard, and the removals held back (path, reason)."""

    action: str
    ops: tuple[Op, ...] = ()
    notes: tuple[str, ...] = ()
    deletions: int = 0
    held: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, plan: StackSetPlan) -> Expected:
        held = tuple((t.path, t.reason) for t in plan.targets if t.change == "hold")
        return cls(plan.action, plan.ops, plan.notes, plan.deletions, held)


def commit(d: DesiredStackSet, *accounts: str, applied: str | None = None) -> CommitHash:
    tag = d.tag_after(applied or d.overrides_digest)
    return CommitHash(stackset=DEV, content=d.content, tag=tag, accounts=accounts, regions=REGIONS)


def vouched(d: DesiredStackSet) -> str:
    """The tag of a plan that reached d with nothing to change in the overrides, vouched for by op-1."""
    return f"{d.tag_after(d.overrides_digest)}.op-1"


D = desired()
# An account that joined Prod gets Prod's value; the one that left is set back.
MOVED = {**PLACES, "100000000004": PROD, "100000000008": WS}
D_MOVED = desired(org=tree(MOVED))
NO_SANDBOX = tree(drop=(SB,))
D_NO_SANDBOX = desired(org=NO_SANDBOX)
DEV_SUSPENDED = tree(suspended=("100000000006",))
D_DEV_SUSPENDED = desired(org=DEV_SUSPENDED)
IN_SECURITY = LiveInstance("100000000002", "us-east-1", SEC)
EXCLUDED_UNDER_WS = LiveInstance("333333333333", "us-east-1", WS)
INOPERABLE_IN_SANDBOX = tuple(
    dataclasses.replace(i, status="INOPERABLE", detailed_status="INOPERABLE", reason="delete failed")
    if i.account == "100000000000"
    else i
    for i in deployed(D)
)
D_RO = desired("org-roles-ReadOnly")
SET_BACK = UpdateOverrides(
    stackset=DEV,
    regions=REGIONS,
    accounts=("100000000000", "100000000001", "100000000004", "100000000006"),
    parameters=(),
    paths=("Root/Sandbox", "Root/Workloads", "Root/Workloads/Dev"),
)
FAILED_IN_SANDBOX = tuple(
    dataclasses.replace(i, status="OUTDATED", detailed_status="FAILED") if i.account == "100000000000" else i
    for i in deployed(D)
)
STALE_TEMPLATE = live_from(D, "v2.old.x.x.op-1", deployed(D), template_sha256="0" * 64)
ORPHAN = LiveStackSet(
    "org-roles-Old",
    "SERVICE_MANAGED",
    "",
    "",
    {},
    (),
    {HASH_TAG: "v1.a.b"},
    (SB,),
    REGIONS,
    instances=(LiveInstance("100000000000", "us-east-1", SB),),
)
ORPHAN_DELETE = DeleteInstances(
    stackset="org-roles-Old",
    regions=REGIONS,
    ou_ids=(SB,),
    accounts=(),
    account_filter="NONE",
    retain_stacks=False,
    count=1,
    paths=("Root/Sandbox",),
)
RETAIN = DeletionPolicy(retain_stacks=True)
WINDOW_NOTE = (
    "excluded accounts (333333333333) under Root/Workloads: AutoDeployment ignores account filters, so an "
    "excluded account that joins one of these OUs gets the role from AWS itself within minutes and keeps it "
    "until a sync deletes it (deleted, never retained). The watcher starts the pipeline on MoveAccount, but the "
    "sync runs only once the manual approval is given: the window lasts from the move until that run is "
    "approved and applied, up to the approval timeout (7 days) for one run, and longer if runs are rejected or "
    "expire"
)

# (scenario id, situation: the planner call on a built live state and org, the exact plan it must return)
SCENARIOS = [
    pytest.param(
        lambda: plan_stackset(D, None, tree(), POLICY),
        Expected(
            "create",
            (
                CreateStackSet(stackset=DEV, content=D.content, tag=D.tag_after(NO_OVERRIDES)),
                CreateInstances(
                    stackset=DEV,
                    regions=REGIONS,
                    ou_ids=(SB,),
                    accounts=(),
                    account_filter="NONE",
                    paths=("Root/Sandbox",),
                ),
                CreateInstances(
                    stackset=DEV,
                    regions=REGIONS,
                    ou_ids=(WS,),
                    accounts=("333333333333",),
                    account_filter="DIFFERENCE",
                    paths=("Root/Workloads",),
                ),
                PROD_OVERRIDE,
            ),
            notes=(WINDOW_NOTE,),
        ),
        id="new stackset carries its hash from the start: targets, overrides, no commit",
    ),
    pytest.param(
        lambda: plan_stackset(
            D_RO, live_from(D_RO, vouched(D_RO), instances=None, ou_ids=(ROOT_ID,)), tree(), POLICY
        ),
        Expected("unchanged"),
        id="matching hash and targets are unchanged without reading instances",
    ),
    pytest.param(
        lambda: plan_stackset(D, live_from(D, vouched(D), deployed(D)), tree(), POLICY),
        Expected("unchanged"),
        id="an excluded account under its target is looked for, and absent it is unchanged",
    ),
    pytest.param(
        # AWS keeps an UpdateStackSet's tags even when its operation fails: a matching hash whose operation
        # failed is not trusted: a tag-only update limited to the failed instance redeploys it and records
        # the hash. The overrides in place are those before that plan, here the same.
        lambda: plan_stackset(
            D, live_from(D, vouched(D), FAILED_IN_SANDBOX, rollout_failed=True), tree(), POLICY
        ),
        Expected(
            "update",
            (commit(D, "100000000000"),),
            notes=(
                "the operation that wrote the hash failed or left failed instances: repairing",
                "1 instance(s) failed or not CURRENT: the commit redeploys them",
            ),
        ),
        id="matching hash after a failed rollout repairs the failed instance",
    ),
    pytest.param(
        # The plan that wrote the tag stopped before its last operation (a crash): the overrides in place are
        # those before it, so they are applied again; a rerun of the same run ends with the same operation,
        # which then vouches for the tag, so no commit.
        lambda: plan_stackset(
            D,
            live_from(
                D,
                f"{D.tag_after('f' * 16)}.op-1",
                deployed(D),
                rollout_failed=True,
                rollout_missing=True,
            ),
            tree(),
            POLICY,
        ),
        Expected(
            "update",
            (SET_BACK, PROD_OVERRIDE),
            notes=("the plan that wrote the hash stopped before its last operation: finishing it",),
        ),
        id="an unfinished plan is finished without a commit",
    ),
    pytest.param(
        lambda: plan_stackset(
            D, live_from(D, vouched(D), FAILED_IN_SANDBOX, unhealthy=("FAILED",)), tree(), POLICY
        ),
        Expected(
            "update",
            (commit(D, "100000000000"),),
            notes=(
                "instances found FAILED (AutoDeployment's or an earlier run's)",
                "1 instance(s) failed or not CURRENT: the commit redeploys them",
            ),
        ),
        id="a failed instance found by its status is redeployed alone",
    ),
    pytest.param(
        lambda: plan_stackset(
            D, live_from(D, vouched(D), INOPERABLE_IN_SANDBOX, unhealthy=("INOPERABLE",)), tree(), POLICY
        ),
        Expected(
            "failed",
            notes=(
                "instances found INOPERABLE (AutoDeployment's or an earlier run's)",
                "instance 100000000000 us-east-1 is INOPERABLE (delete failed): UpdateStackSet skips it; run "
                "aws cloudformation delete-stack-instances --stack-set-name org-roles-Developer "
                "--deployment-targets Accounts=100000000000 --regions us-east-1 --retain-stacks, delete the "
                "stack it leaves in account 100000000000, then sync again",
            ),
        ),
        id="an inoperable instance is reported with its fix, never unchanged",
    ),
    pytest.param(
        lambda: plan_stackset(
            D,
            live_from(D, f"v2.old.{D.overrides_digest}.{D.overrides_digest}.op-1", deployed(D)),
            tree(),
            POLICY,
        ),
        Expected("update", (commit(D, "100000000000"),)),
        id="everything in place but the hash: a tag-only update of one account",
    ),
    pytest.param(
        # Upgrading from a v1 tag (written last by a tag-only update of every instance): its override digest
        # is kept, so the hash is re-recorded once on one instance, nothing else.
        lambda: plan_stackset(D, live_from(D, f"v1.old.{D.overrides_digest}", deployed(D)), tree(), POLICY),
        Expected("update", (commit(D, "100000000000"),)),
        id="a v1 tag is re-recorded once on one instance",
    ),
    pytest.param(
        lambda: plan_stackset(
            D,
            dataclasses.replace(
                STALE_TEMPLATE,
                tags={
                    **STALE_TEMPLATE.tags,
                    HASH_TAG: f"v2.old.{D.overrides_digest}.{D.overrides_digest}.op-1",
                },
            ),
            tree(),
            POLICY,
        ),
        Expected(
            "update",
            (
                UpdateStackSet(
                    stackset=DEV,
                    content=D.content,
                    tag=D.tag_after(D.overrides_digest),
                    changes=("template",),
                ),
            ),
        ),
        id="template change is one update carrying the hash",
    ),
    pytest.param(
        lambda: plan_stackset(
            D_MOVED,
            live_from(
                D_MOVED, vouched(D), tuple(LiveInstance(i.account, "us-east-1", i.ou_id) for i in deployed(D))
            ),
            tree(MOVED),
            POLICY,
        ),
        Expected(
            "update",
            (
                UpdateOverrides(
                    stackset=DEV,
                    regions=REGIONS,
                    accounts=("100000000000", "100000000001", "100000000006", "100000000008"),
                    parameters=(),
                    paths=("Root/Sandbox", "Root/Workloads", "Root/Workloads/Dev"),
                ),
                UpdateOverrides(
                    stackset=DEV,
                    regions=REGIONS,
                    accounts=("100000000004", "100000000009"),
                    parameters=(("MaxSessionDuration", "1800"),),
                    paths=("Root/Workloads/Prod",),
                ),
                commit(D_MOVED, "100000000000", applied=D.overrides_digest),
            ),
        ),
        id="overrides follow accounts, then a tag-only update of one of their accounts",
    ),
    pytest.param(
        lambda: plan_stackset(D, live_from(D, vouched(D), (*deployed(D), IN_SECURITY)), tree(), POLICY),
        Expected(
            "update",
            (
                DeleteInstances(
                    stackset=DEV,
                    regions=REGIONS,
                    ou_ids=(SEC,),
                    accounts=(),
                    account_filter="NONE",
                    retain_stacks=False,
                    count=1,
                    paths=("Root/Security",),
                ),
            ),
            deletions=1,
        ),
        id="removed target is deleted, its stacks with it (revocation)",
    ),
    pytest.param(
        lambda: plan_stackset(D, live_from(D, vouched(D), (*deployed(D), IN_SECURITY)), tree(), RETAIN),
        Expected(
            "update",
            (
                DeleteInstances(
                    stackset=DEV,
                    regions=REGIONS,
                    ou_ids=(SEC,),
                    accounts=(),
                    account_filter="NONE",
                    retain_stacks=True,
                    count=1,
                    paths=("Root/Security",),
                ),
            ),
            deletions=1,
        ),
        id="removed target keeps its stacks when the org opts in to retaining",
    ),
    pytest.param(
        lambda: plan_stackset(
            D_NO_SANDBOX,
            live_from(
                D_NO_SANDBOX,
                vouched(D_NO_SANDBOX),
                (*deployed(D_NO_SANDBOX), IN_SECURITY),
            ),
            NO_SANDBOX,
            POLICY,
        ),
        Expected(
            "unchanged",
            held=(("Root/Security", "removal held: target Root/Sandbox is not in the organization"),),
        ),
        id="removals are held while a target is missing",
    ),
    pytest.param(
        lambda: plan_stackset(D, live_from(D, vouched(D), (*deployed(D), EXCLUDED_UNDER_WS)), tree(), POLICY),
        Expected(
            "update",
            (
                DeleteInstances(
                    stackset=DEV,
                    regions=REGIONS,
                    ou_ids=(WS,),
                    accounts=("333333333333",),
                    account_filter="INTERSECTION",
                    retain_stacks=False,
                    count=1,
                    paths=("Root/Workloads",),
                ),
            ),
            notes=(WINDOW_NOTE,),
            deletions=1,
        ),
        id="excluded account found under its target is removed alone",
    ),
    pytest.param(
        # AutoDeployment gave the excluded account the role; it is deleted even when the org retains stacks.
        lambda: plan_stackset(D, live_from(D, vouched(D), (*deployed(D), EXCLUDED_UNDER_WS)), tree(), RETAIN),
        Expected(
            "update",
            (
                DeleteInstances(
                    stackset=DEV,
                    regions=REGIONS,
                    ou_ids=(WS,),
                    accounts=("333333333333",),
                    account_filter="INTERSECTION",
                    retain_stacks=False,
                    count=1,
                    paths=("Root/Workloads",),
                ),
            ),
            notes=(WINDOW_NOTE,),
            deletions=1,
        ),
        id="excluded account is deleted, never retained, even when the org retains stacks",
    ),
    pytest.param(
        lambda: plan_stackset(
            D_DEV_SUSPENDED,
            live_from(D_DEV_SUSPENDED, vouched(D_DEV_SUSPENDED), deployed(D)),
            DEV_SUSPENDED,
            POLICY,
        ),
        Expected("unchanged"),
        id="suspended accounts keep their instances",
    ),
    pytest.param(
        lambda: plan_stackset(D, live_from(D, "x", (), permission_model="SELF_MANAGED"), tree(), POLICY),
        Expected(
            "failed",
            notes=(
                "live permission model is SELF_MANAGED, the manifest wants SERVICE_MANAGED: a StackSet cannot "
                "switch; delete it (retaining stacks) first",
            ),
        ),
        id="permission model switch is refused",
    ),
    pytest.param(
        lambda: plan_orphan(ORPHAN, tree(), POLICY),
        Expected(
            "orphan",
            notes=(
                "not in the manifest; 1 instance(s) left in place (set deletion.delete_orphaned_stacksets in "
                "org.yaml to delete it)",
            ),
        ),
        id="orphan is reported",
    ),
    pytest.param(
        lambda: plan_orphan(ORPHAN, tree(), dataclasses.replace(POLICY, delete_orphaned_stacksets=True)),
        Expected(
            "orphan",
            (ORPHAN_DELETE, DeleteStackSet(stackset="org-roles-Old")),
            notes=("not in the manifest: deleting it",),
            deletions=2,
        ),
        id="orphan is deleted when allowed",
    ),
]


@pytest.mark.parametrize(("situation", "expected"), SCENARIOS)
def test_scenario(situation: Callable[[], StackSetPlan], expected: Expected) -> None:
    assert Expected.of(situation()) == expected


def test_desired_accounts_leave_out_the_excluded_and_management_accounts() -> None:
    assert D.accounts == (
        "100000000000",
        "100000000001",
        "100000000004",
        "100000000006",
        "100000000008",
        "100000000009",
    )


def test_a_failed_rollout_needs_the_instances_read() -> None:
    live = live_from(D, vouched(D), FAILED_IN_SANDBOX, rollout_failed=True)
    assert needs_instances(D, dataclasses.replace(live, instances=None))


def test_suspended_accounts_are_listed_apart() -> None:
    assert D_DEV_SUSPENDED.inactive == ("100000000006",)


def test_management_stack_plans() -> None:
    spec = M.management_account_stack
    assert spec is not None
    tag = management_tag(spec)
    assert plan_management(spec, None).ops[0].change_set_type == "CREATE"  # type: ignore[attr-defined]
    assert (
        plan_management(spec, LiveStack(spec.name, "UPDATE_COMPLETE", {HASH_TAG: tag})).action == "unchanged"
    )
    assert (
        plan_management(spec, LiveStack(spec.name, "UPDATE_COMPLETE", {HASH_TAG: "old"})).action == "update"
    )
    assert plan_management(spec, LiveStack(spec.name, "ROLLBACK_COMPLETE")).action == "failed"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("v2.abc.def.0ld.op-1", HashTag("abc", "def", "0ld", "op-1")),
        ("v2.abc.def.unknown.op-1", HashTag("abc", "def", None, "op-1")),
        ("v2.abc.def.0ld.", HashTag("abc", "def", "0ld", None)),
        ("v2.abc.def.0ld", HashTag("abc", "def", "0ld", None)),
        ("v2.abc.def", HashTag(None, None, None, None)),
        ("v1.abc.def", HashTag(None, "def", "def", None)),
        ("v1.pending.unknown", HashTag(None, None, None, None)),
        ("v2..def.0ld.op", HashTag(None, None, None, None)),
        ("garbage", HashTag(None, None, None, None)),
        (None, HashTag(None, None, None, None)),
    ],
)
def test_hash_tag_parsing(value: str | None, expected: HashTag) -> None:
    assert HashTag.parse(value) == expected


def _plan_with(deletions: int, total: int, warnings: tuple[str, ...] = ()) -> SyncPlan:
    op = DeleteInstances(
        stackset=DEV,
        regions=REGIONS,
        ou_ids=(SB,),
        accounts=(),
        account_filter="NONE",
        retain_stacks=True,
        count=deletions,
    )
    return SyncPlan("r", "", "o", (), (StackSetPlan(DEV, "role", "update", (op,)),), warnings, total)


@pytest.mark.parametrize(
    ("deletions", "total", "warnings", "reasons"),
    [
        (2, 100, (), ()),
        (
            26,
            1000,
            (),
            (
                "the plan deletes 26 stack instances, more than deletion.max_instance_deletions (25) in org.yaml",
            ),
        ),
        (
            11,
            100,
            (),
            (
                "the plan deletes 11.0% of our 100 stack instances, more than deletion.max_instance_deletion_percentage (10%) in org.yaml",
            ),
        ),
        (
            1,
            100,
            ("the organization read returned no member accounts",),
            (
                "the plan deletes 1 stack instance(s) and 0 StackSet(s) but the organization read looks wrong (the organization read returned no member accounts)",
            ),
        ),
        (0, 100, ("the organization read returned no member accounts",), ()),
    ],
)
def test_guard(deletions: int, total: int, warnings: tuple[str, ...], reasons: tuple[str, ...]) -> None:
    verdict = check(_plan_with(deletions, total, warnings), POLICY)
    assert (verdict.ok, verdict.reasons) == (not reasons, reasons)


def test_read_assessment() -> None:
    assert assess_read(M, tree(), resolve(M, tree())) == []
    empty = tree(places={"111111111111": ROOT_ID}, drop=(SB, SEC, WS, DEV_OU, PROD))
    assert assess_read(M, empty, resolve(M, empty)) == [
        "the organization read returned no member accounts",
        "only 0 of the manifest's 5 OUs exist in the organization read",
        "the organization read returned no OUs below the root",
    ]
