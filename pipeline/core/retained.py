"""Pure: the exact fix for an instance that failed because a retained stack still owns its role.

With `deletion.retain_stacks: true` (the opt-in), a removed instance's stack stays in its account and keeps the
named IAM role (API_DeleteStackInstances, RetainStacks: "Removes the stack instances from the specified stack
set, but doesn't delete the stacks"); "IAM user, group, role, and policy names must be unique within the
account" (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html), so a new instance of the
same StackSet there fails with EntityAlreadyExists. The sync cannot see into member accounts, so it cannot find
that stack's id to adopt it (ImportStacksToStackSet takes stack ids, and its API reference says in one
version that only self-managed StackSets can import); it names the failure and the exact fix instead.
"""

from __future__ import annotations

from pipeline.core.outcomes import Failure

# CloudFormation reports a named IAM role that exists already as IAM's EntityAlreadyExists, or as
# "... already exists" in the resource's status reason.
ALREADY_EXISTS = ("EntityAlreadyExists", "already exists")


def retained_stack_fix(stackset: str, failure: Failure) -> str | None:
    """One line: how to clear a role held by a retained stack, or None when the failure is another one."""
    if not any(marker in failure.reason for marker in ALREADY_EXISTS):
        return None
    acct, region = failure.account, failure.region or "us-east-1"
    return (
        f"the role already exists in account {acct}, most likely in a stack of {stackset} kept when the role "
        f"was removed there earlier (deletion.retain_stacks: true). In account {acct} list it with "
        f"`aws cloudformation list-stacks --region {region} --stack-status-filter CREATE_COMPLETE "
        f'UPDATE_COMPLETE UPDATE_ROLLBACK_COMPLETE --query "StackSummaries[?starts_with(StackName, '
        f"'StackSet-{stackset}-')].StackName\"`, delete it with `aws cloudformation delete-stack --region "
        f"{region} --stack-name <that name>`, then sync again: the sync retries the failed instance, which "
        "creates the role, managed again"
    )
