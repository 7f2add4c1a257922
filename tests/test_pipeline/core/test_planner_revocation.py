"""The planner removes by deleting (revocation) unless the org opts in to retaining stacks: a region no longer
wanted, with exact operations (issue 12, item 2). Other removal paths: test_planner.py's scenarios."""

from __future__ import annotations

import pytest

from pipeline.core.live import LiveInstance
from pipeline.core.manifest import DeletionPolicy
from pipeline.core.ops import DeleteInstances
from pipeline.core.planner import plan_stackset
from tests.test_pipeline.core.test_planner import DEV, SB, WS, D, commit, deployed, live_from, tree


@pytest.mark.parametrize(("retain", "kept"), [(False, False), (True, True)], ids=["default", "opt-in"])
def test_a_region_no_longer_wanted_is_deleted_unless_the_org_retains(retain: bool, kept: bool) -> None:
    west = (LiveInstance("100000000000", "us-west-2", SB), LiveInstance("100000000004", "us-west-2", WS))
    live = live_from(D, "v1.old." + D.overrides_digest, (*deployed(D), *west))
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
        commit(D),
    )
    assert plan.notes == ("region us-west-2 is no longer wanted",)


def test_the_default_policy_revokes() -> None:
    """The contract's one default (pipeline.core.manifest): removal deletes the stacks."""
    assert DeletionPolicy().retain_stacks is False
