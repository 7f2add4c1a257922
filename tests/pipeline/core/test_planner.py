"""The pure planner, desired state and guard: exact operations for each situation, no AWS at all."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pipeline.core.desired import NO_OVERRIDES, DesiredStackSet, HashTag, content_for, desire, pending_tag
from pipeline.core.guard import check
from pipeline.core.live import LiveInstance, LiveStack, LiveStackSet
from pipeline.core.manifest import HASH_TAG, DeletionPolicy, Manifest, load_manifest
from pipeline.core.ops import (
    CommitHash,
    CreateInstances,
    CreateStackSet,
    DeleteInstances,
    DeleteStackSet,
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


def test_new_stackset_creates_targets_overrides_then_commits() -> None:
    d = desired()
    plan = plan_stackset(d, None, tree(), POLICY)
    assert plan.action == "create"
    assert plan.ops == (
        CreateStackSet(stackset=DEV, content=d.content, tag=f"v1.pending.{NO_OVERRIDES}"),
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
        CommitHash(stackset=DEV, content=d.content, tag=d.tag),
    )
    assert d.accounts == (
        "100000000000",
        "100000000001",
        "100000000004",
        "100000000006",
        "100000000008",
        "100000000009",
    )


def test_content_of_a_role_stackset() -> None:
    c = content_for(M.stackset(DEV), M)
    assert (c.auto_deployment, c.permission_model, c.capabilities) == (
        (True, True),
        "SERVICE_MANAGED",
        ("CAPABILITY_NAMED_IAM",),
    )
    assert dict(c.tags) == {
        "ManagedBy": "org-stacksets",
        "OrgStackSetsRole": "Developer",
        "Project": "org-roles",
    }
    assert content_for(M.stackset("org-roles-login-account"), M).auto_deployment == (False, False)


def test_matching_hash_is_unchanged_without_reading_instances() -> None:
    d = desired()
    plan = plan_stackset(d, live_from(d, d.tag, instances=None), tree(), POLICY)
    assert (plan.action, plan.ops) == ("unchanged", ())


def test_matching_hash_after_a_failed_rollout_rolls_out_again() -> None:
    """AWS keeps an UpdateStackSet's tags even when its operation fails: a matching hash whose rollout
    failed is not trusted; the commit rolls out to every instance again, the failed one included."""
    d = desired()
    failed = tuple(
        dataclasses.replace(i, status="OUTDATED", detailed_status="FAILED")
        if i.account == "100000000000"
        else i
        for i in deployed(d)
    )
    live = live_from(d, d.tag, failed, rollout_failed=True)
    assert needs_instances(d, dataclasses.replace(live, instances=None))
    plan = plan_stackset(d, live, tree(), POLICY)
    assert (plan.action, plan.ops, plan.notes) == (
        "update",
        (CommitHash(stackset=DEV, content=d.content, tag=d.tag),),
        (
            "the last rollout failed or left failed instances: rolling out again",
            "1 instance(s) not CURRENT: the commit retries them",
        ),
    )


def test_everything_in_place_but_the_hash_only_commits() -> None:
    d = desired()
    tag = f"v1.pending.{d.overrides_digest}"
    plan = plan_stackset(d, live_from(d, tag, deployed(d)), tree(), POLICY)
    assert plan.ops == (CommitHash(stackset=DEV, content=d.content, tag=d.tag),)


def test_template_change_updates_then_commits() -> None:
    d = desired()
    live = live_from(d, "v1.old.x", deployed(d), template_sha256="0" * 64)
    plan = plan_stackset(
        d,
        dataclasses.replace(live, tags={**live.tags, HASH_TAG: f"v1.old.{d.overrides_digest}"}),
        tree(),
        POLICY,
    )
    assert plan.ops == (
        UpdateStackSet(
            stackset=DEV, content=d.content, tag=f"v1.pending.{d.overrides_digest}", changes=("template",)
        ),
        CommitHash(stackset=DEV, content=d.content, tag=d.tag),
    )


@pytest.mark.parametrize(
    ("places", "expected"),
    [
        # An account that joined Prod gets Prod's value; the one that left is set back.
        (
            {**PLACES, "100000000004": PROD, "100000000008": WS},
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
            ),
        ),
    ],
)
def test_overrides_follow_accounts(places: dict[str, str], expected: tuple[UpdateOverrides, ...]) -> None:
    before = desired()
    d = desired(org=tree(places))
    instances = tuple(
        LiveInstance(a, "us-east-1", i.ou_id) for a, i in ((x.account, x) for x in deployed(before))
    )
    plan = plan_stackset(d, live_from(d, before.tag, instances), tree(places), POLICY)
    assert plan.ops == (*expected, CommitHash(stackset=DEV, content=d.content, tag=d.tag))


def test_removed_target_is_deleted_retaining_stacks() -> None:
    d = desired()
    extra = LiveInstance("100000000002", "us-east-1", SEC)
    plan = plan_stackset(
        d, live_from(d, "v1.old." + d.overrides_digest, (*deployed(d), extra)), tree(), POLICY
    )
    assert plan.ops == (
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
        CommitHash(stackset=DEV, content=d.content, tag=d.tag),
    )
    assert plan.deletions == 1


def test_removals_are_held_while_a_target_is_missing() -> None:
    org = tree(drop=(SB,))
    d = desired(org=org)
    extra = LiveInstance("100000000002", "us-east-1", SEC)
    plan = plan_stackset(d, live_from(d, "v1.old." + d.overrides_digest, (*deployed(d), extra)), org, POLICY)
    assert [op.kind for op in plan.ops] == ["commit"]
    held = [t for t in plan.targets if t.change == "hold"]
    assert [(t.path, t.reason) for t in held] == [
        ("Root/Security", "removal held: target Root/Sandbox is not in the organization")
    ]


def test_excluded_account_found_under_its_target_is_removed_alone() -> None:
    d = desired()
    sneaked = LiveInstance("333333333333", "us-east-1", WS)
    plan = plan_stackset(
        d, live_from(d, "v1.old." + d.overrides_digest, (*deployed(d), sneaked)), tree(), POLICY
    )
    assert plan.ops[0] == DeleteInstances(
        stackset=DEV,
        regions=REGIONS,
        ou_ids=(WS,),
        accounts=("333333333333",),
        account_filter="INTERSECTION",
        retain_stacks=True,
        count=1,
        paths=("Root/Workloads",),
    )


def test_suspended_accounts_keep_their_instances() -> None:
    org = tree(suspended=("100000000006",))
    d = desired(org=org)
    before = deployed(desired())
    plan = plan_stackset(d, live_from(d, "v1.old." + d.overrides_digest, before), org, POLICY)
    assert [op.kind for op in plan.ops] == ["commit"]
    assert d.suspended == ("100000000006",)


def test_permission_model_switch_is_refused() -> None:
    d = desired()
    plan = plan_stackset(d, live_from(d, "x", (), permission_model="SELF_MANAGED"), tree(), POLICY)
    assert plan.action == "failed" and plan.ops == ()
    assert "cannot switch" in plan.notes[0]


def test_orphans_are_reported_or_deleted() -> None:
    live = LiveStackSet(
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
    assert plan_orphan(live, tree(), POLICY).ops == ()
    plan = plan_orphan(live, tree(), dataclasses.replace(POLICY, delete_orphaned_stacksets=True))
    assert plan.ops == (
        DeleteInstances(
            stackset="org-roles-Old",
            regions=REGIONS,
            ou_ids=(SB,),
            accounts=(),
            account_filter="NONE",
            retain_stacks=True,
            count=1,
            paths=("Root/Sandbox",),
        ),
        DeleteStackSet(stackset="org-roles-Old"),
    )


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
        ("v1.abc.def", HashTag(True, "abc", "def")),
        ("v1.pending.def", HashTag(False, None, "def")),
        ("v1.pending.unknown", HashTag(False, None, None)),
        ("garbage", HashTag(False, None, None)),
        (None, HashTag(False, None, None)),
    ],
)
def test_hash_tag_parsing(value: str | None, expected: HashTag) -> None:
    assert HashTag.parse(value) == expected


def test_pending_tag_keeps_the_applied_overrides() -> None:
    assert pending_tag("v1.abc.def") == "v1.pending.def"
    assert pending_tag(None) == "v1.pending.unknown"


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
