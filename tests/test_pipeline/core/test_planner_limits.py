"""API limits in the plan: at most 50 OU ids per Create/Update/DeleteStackInstances call
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteStackInstances.html,
DeploymentTargets.OrganizationalUnitIds), every call batched, removals and orphan clean-up included."""

from __future__ import annotations

import dataclasses

from pipeline.core.live import LiveInstance
from pipeline.core.manifest import DeletionPolicy
from pipeline.core.ops import DeleteInstances
from pipeline.core.org import Account, OrgTree, OrgUnit
from pipeline.core.planner import plan_orphan, plan_stackset
from tests.test_pipeline.core.test_planner import DEV, ROOT_ID, desired, live_from, tree

EXTRA = 120  # OU targets to remove at once: three calls of 50, 50 and 20
POLICY = DeletionPolicy(max_instance_deletions=1000, max_instance_deletion_percentage=100)


def _extra_ou(n: int) -> str:
    return f"ou-ab12-x{n:07d}"


def _wide_tree() -> OrgTree:
    """The planner tests' organization plus EXTRA OUs under the root, one account in each."""
    base = tree()
    units = dict(base.units)
    accounts = dict(base.accounts)
    for n in range(EXTRA):
        ou = _extra_ou(n)
        units[ou] = OrgUnit(ou, f"Extra{n:03d}", ROOT_ID, f"Root/Extra{n:03d}")
        accounts[f"5{n:011d}"] = Account(f"5{n:011d}", f"extra-{n}", ou)
    return OrgTree(base.organization_id, base.management_account_id, base.root_id, units, accounts)


def _extra_instances() -> tuple[LiveInstance, ...]:
    return tuple(LiveInstance(f"5{n:011d}", "us-east-1", _extra_ou(n)) for n in range(EXTRA))


def _deletes(ops: tuple[object, ...]) -> list[DeleteInstances]:
    return [op for op in ops if isinstance(op, DeleteInstances)]


def test_removing_more_than_50_ou_targets_takes_one_call_per_50() -> None:
    org = _wide_tree()
    d = desired(org=org)
    kept = tuple(LiveInstance(a, "us-east-1", t.ou_id) for t in d.targets for a in t.accounts)
    live = live_from(d, f"v2.old.{d.overrides_digest}.{d.overrides_digest}.op-1", kept + _extra_instances())
    deletes = _deletes(plan_stackset(d, live, org, POLICY).ops)
    assert [len(op.ou_ids) for op in deletes] == [50, 50, 20]
    assert [op.count for op in deletes] == [50, 50, 20]
    assert sorted(i for op in deletes for i in op.ou_ids) == sorted(_extra_ou(n) for n in range(EXTRA))
    assert all(len(op.paths) == len(op.ou_ids) for op in deletes)


def test_an_orphan_across_more_than_50_ous_is_emptied_50_at_a_time() -> None:
    org = _wide_tree()
    d = desired(org=org)
    orphan = dataclasses.replace(live_from(d, "v1.x.y", _extra_instances()), name="org-roles-Old", ou_ids=())
    policy = dataclasses.replace(POLICY, delete_orphaned_stacksets=True)
    deletes = _deletes(plan_orphan(orphan, org, policy).ops)
    assert [(len(op.ou_ids), op.count) for op in deletes] == [(50, 50), (50, 50), (20, 20)]
    assert orphan.name != DEV
