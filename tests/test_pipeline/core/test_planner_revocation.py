"""The planner removes by deleting (revocation) unless the org opts in to retaining stacks: a region no longer
wanted, with exact operations (issue 12, item 2). Other removal paths: test_planner.py's scenarios."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.core.live import LiveInstance
from pipeline.core.manifest import DeletionPolicy, PermissionModel
from pipeline.core.ops import DeleteInstances
from pipeline.core.planner import needs_exclusion_check, needs_instances, plan_stackset
from tests.test_pipeline.core.test_planner import (
    DEV,
    SB,
    WS,
    D,
    M,
    deployed,
    desired,
    live_from,
    tree,
    vouched,
)


@pytest.mark.parametrize(("retain", "kept"), [(False, False), (True, True)], ids=["default", "opt-in"])
def test_a_region_no_longer_wanted_is_deleted_unless_the_org_retains(retain: bool, kept: bool) -> None:
    west = (LiveInstance("100000000000", "us-west-2", SB), LiveInstance("100000000004", "us-west-2", WS))
    live = live_from(D, vouched(D), (*deployed(D), *west))
    plan = plan_stackset(D, live, tree(), DeletionPolicy(retain_stacks=retain))
    assert plan.ops == (
        DeleteInstances(
            stackset=DEV,
            regions=("us-west-2",),
            ou_ids=(SB, WS),
            accounts=(),
            account_filter="NONE",
            retain_stacks=kept,
            count=2,
        ),
    )
    assert plan.notes == ("region us-west-2 is no longer wanted",)


def test_the_default_policy_revokes() -> None:
    """The contract's one default (pipeline.core.manifest): removal deletes the stacks."""
    assert DeletionPolicy().retain_stacks is False


def test_excluded_accounts_under_their_target_are_looked_up_even_when_the_hash_matches() -> None:
    """AutoDeployment may give an excluded account an instance at any time: a matching hash is trusted only
    once those accounts are found to hold none."""
    assert D.excluded_present == ("333333333333",)  # EXCLUDED sits in Root/Workloads, excluded there
    matching = live_from(D, vouched(D), instances=None, ou_ids=(SB, WS))
    assert needs_exclusion_check(D, matching) == ("333333333333",)
    assert needs_exclusion_check(D, live_from(D, "v1.old.x", instances=None)) == ()  # planned anyway
    assert plan_stackset(D, matching, tree(), DeletionPolicy()).action == "unchanged"
    reached = dataclasses.replace(matching, excluded_reached=("333333333333",))
    assert needs_instances(D, reached)
    stray = LiveInstance("333333333333", "us-east-1", WS)
    plan = plan_stackset(
        D, dataclasses.replace(reached, instances=(*deployed(D), stray)), tree(), DeletionPolicy()
    )
    assert (plan.action, [op.kind for op in plan.ops]) == ("update", ["delete-instances"])
    assert plan.notes[0] == "excluded account(s) 333333333333 got an instance from AutoDeployment"


def test_self_managed_excluded_accounts_are_deleted_never_retained() -> None:
    """Self-managed: an account excluded after it got the role loses it, even when the org retains stacks;
    an account that merely left its OU keeps its stack, as the opt-in says."""
    org = dataclasses.replace(
        M.org,
        permission_model=PermissionModel.SELF_MANAGED,
        administration_role_arn="arn:aws:iam::111111111111:role/AWSCloudFormationStackSetAdministrationRole",
        execution_role_name="AWSCloudFormationStackSetExecutionRole",
    )
    m = dataclasses.replace(M, org=org)
    d = desired(manifest=m)
    strays = (
        LiveInstance("333333333333", "us-east-1", None),
        LiveInstance("100000000002", "us-east-1", None),
    )
    live = live_from(d, "v1.old.x", (*(LiveInstance(a, "us-east-1", None) for a in d.accounts), *strays))
    plan = plan_stackset(d, live, tree(), DeletionPolicy(retain_stacks=True))
    deletes = [(op.accounts, op.retain_stacks) for op in plan.ops if isinstance(op, DeleteInstances)]
    assert deletes == [(("333333333333",), False), (("100000000002",), True)]
