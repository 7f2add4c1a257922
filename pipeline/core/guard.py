"""Pure deletion guard: decides, before the first write, whether a plan deletes too much to run unattended."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.manifest import DeletionPolicy
from pipeline.core.planner import SyncPlan


@dataclass(frozen=True)
class GuardVerdict:
    ok: bool
    reasons: tuple[str, ...] = ()
    deletions: int = 0
    stackset_deletions: int = 0


def check(plan: SyncPlan, policy: DeletionPolicy) -> GuardVerdict:
    """Stop when the plan deletes more instances than org.yaml allows, or deletes anything at all while
    the organization read looked wrong (a failed or near-empty read must never look like OUs to remove)."""
    instances = plan.deletions
    stacksets = sum(1 for s in plan.stacksets for op in s.ops if op.kind == "delete-stackset")
    # Every StackSet deletion is counted as a deletion, but the limits speak of instances.
    instance_deletions = instances - stacksets
    reasons: list[str] = []
    if instances and plan.read_warnings:
        reasons.append(
            f"the plan deletes {instance_deletions} stack instance(s) and {stacksets} StackSet(s) but the "
            f"organization read looks wrong ({'; '.join(plan.read_warnings)})"
        )
    if instance_deletions > policy.max_instance_deletions:
        reasons.append(
            f"the plan deletes {instance_deletions} stack instances, more than deletion.max_instance_deletions "
            f"({policy.max_instance_deletions}) in org.yaml"
        )
    if instance_deletions and plan.total_instances:
        share = 100.0 * instance_deletions / plan.total_instances
        if share > policy.max_instance_deletion_percentage:
            reasons.append(
                f"the plan deletes {share:.1f}% of our {plan.total_instances} stack instances, more than "
                f"deletion.max_instance_deletion_percentage ({policy.max_instance_deletion_percentage:g}%) in org.yaml"
            )
    return GuardVerdict(not reasons, tuple(reasons), instance_deletions, stacksets)
