"""AWS limits the product checks before AWS would refuse, each defined once with the page it comes from.

The generator's validation and lint rules, the manifest loader, the planner and the Lambda all read them here.
"""

from __future__ import annotations

# IAM: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
ROLE_NAME_CHARS = 64
ROLE_PATH_CHARS = 512
MANAGED_POLICIES_PER_ROLE = 10
TRUST_POLICY_CHARS = 2048
MANAGED_POLICY_CHARS = 6144
INLINE_POLICIES_PER_ROLE_CHARS = 10240
INLINE_POLICIES_PER_USER_CHARS = 2048
INLINE_POLICIES_PER_GROUP_CHARS = 5120

# Organizations: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html
OU_DEPTH = 5
OU_NAME_CHARS = 128
# List pages hold at most 20 items:
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListOrganizationalUnitsForParent.html
ORG_PAGE_SIZE = 20

# CloudFormation: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
TEMPLATE_BODY_BYTES = 51_200
# Tags per StackSet, and a StackSet's description (1 to 1,024 characters):
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html
STACKSET_TAGS = 50
STACKSET_DESCRIPTION_CHARS = 1024
# Tag keys 1 to 128 characters, values 1 to 256:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Tag.html
TAG_KEY_CHARS = 128
TAG_VALUE_CHARS = 256
# OU ids per Create/Update/DeleteStackInstances (and UpdateStackSet) call: "The maximum number of
# organizational unit (OUs) supported by a ... operation is 50" (API_CreateStackInstances.html,
# API_UpdateStackInstances.html, API_DeleteStackInstances.html; batch larger sets).
OUS_PER_INSTANCES_CALL = 50
# Accounts per call: the sync's own batch size, well within what the API takes.
ACCOUNTS_PER_INSTANCES_CALL = 100

# Lambda: a function's timeout is at most 900 seconds
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html); the sync's is 300, and the
# pipeline template sets it from here.
LAMBDA_TIMEOUT_MAX_SECONDS = 900
SYNC_LAMBDA_TIMEOUT_SECONDS = 300
# An invocation starts no new call once it has used this share of the time it had left when it began
# (context.get_remaining_time_in_millis), so none runs past half its timeout: the call under way when the
# budget ends (a throttled page retried with backoff, a poll) has the rest to finish in.
INVOCATION_BUDGET = 0.4

# CodePipeline: https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PutJobSuccessResult.html
CONTINUATION_TOKEN_CHARS = 2048
EXECUTION_SUMMARY_CHARS = 2048
