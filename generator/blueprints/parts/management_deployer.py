"""The CloudFormation service role that deploys the management-account stack, and the sync's right to pass it.

A change set without a service role runs with the caller's own permissions ("If you don't specify a value,
CloudFormation uses the role that was previously associated with the stack. If no role is available,
CloudFormation uses a temporary session that is generated from your user credentials": CreateChangeSet,
RoleARN, https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html), and
the sync role has no IAM permissions, so the sync passes this role instead (AWS CloudFormation service role,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html).

The role may manage exactly the roles of templates/org/management-account.yaml, by ARN, with the actions
CloudFormation's AWS::IAM::Role handlers declare (the resource type schema's `handlers.*.permissions`,
https://docs.aws.amazon.com/cloudformation-cli/latest/userguide/resource-type-schema.html; the schema ships
with cfn-lint and tests/test_generator/blueprints/test_management_deployer.py compares the two), less
iam:ListRoles (the `list` handler, which a stack operation never calls). Attaching a managed policy is
further limited to the template's managed policies (iam:PolicyARN) and setting a boundary to its boundaries
(iam:PermissionsBoundary) (Actions, resources, and condition keys for AWS Identity and Access Management,
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html).

The sync cannot create or widen this role: it has no IAM permissions. An administrator deploys
templates/org/management-deployer.yaml once in the management account (README, "Security model: roles,
break-glass and blueprints"), and again when the management-account roles change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import awacs.iam as iam_actions
from awacs import sts
from awacs.aws import Allow, ArnEquals, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import GetAtt, Output, Sub, Template, iam

DEPLOYER_SUFFIX = "-management-deployer"
CFN_SERVICE = "cloudformation.amazonaws.com"

# AWS::IAM::Role handlers create, read, update and delete, as the resource type schema lists them.
ROLE_HANDLER_ACTIONS = (
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:PutRolePolicy",
    "iam:GetRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:DetachRolePolicy",
    "iam:DeleteRolePermissionsBoundary",
)
ATTACH = "iam:AttachRolePolicy"
SET_BOUNDARY = "iam:PutRolePermissionsBoundary"


def deployer_role_name(prefix: str) -> str:
    return f"{prefix}{DEPLOYER_SUFFIX}"


def deployer_role_arn(management_account: str, prefix: str) -> str:
    # IAM role ARNs: arn:aws:iam::account:role/path/name (IAM identifiers,
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns).
    return f"arn:aws:iam::{management_account}:role/{deployer_role_name(prefix)}"


def _action(name: str) -> Any:
    return iam_actions.Action(name.split(":", 1)[1])


def deployer_statements(
    role_arns: Sequence[Any], managed_policies: Sequence[str], boundaries: Sequence[str]
) -> list[Statement]:
    statements = [
        Statement(
            Sid="ManageTheManagementAccountRoles",
            Effect=Allow,
            Action=[_action(a) for a in ROLE_HANDLER_ACTIONS],
            Resource=list(role_arns),
        )
    ]
    if managed_policies:
        statements.append(
            Statement(
                Sid="AttachOnlyTheirManagedPolicies",
                Effect=Allow,
                Action=[_action(ATTACH)],
                Resource=list(role_arns),
                Condition=Condition(ArnEquals({"iam:PolicyARN": sorted(managed_policies)})),
            )
        )
    if boundaries:
        statements.append(
            Statement(
                Sid="SetOnlyTheirBoundaries",
                Effect=Allow,
                Action=[_action(SET_BOUNDARY)],
                Resource=list(role_arns),
                Condition=Condition(ArnEquals({"iam:PermissionsBoundary": sorted(boundaries)})),
            )
        )
    return statements


def add_deployer_role(
    t: Template,
    prefix: str,
    role_arns: Sequence[Any],
    managed_policies: Sequence[str],
    boundaries: Sequence[str],
) -> iam.Role:
    """The service role, trusted by CloudFormation alone, limited to `role_arns`."""
    role = t.add_resource(
        iam.Role(
            "DeployerRole",
            RoleName=deployer_role_name(prefix),
            Description="CloudFormation service role of the management-account stack: manages its roles only",
            AssumeRolePolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    Statement(
                        Effect=Allow,
                        Principal=Principal("Service", [CFN_SERVICE]),
                        Action=[sts.AssumeRole],
                    )
                ],
            ),
            Policies=[
                iam.Policy(
                    PolicyName="ManagementAccountRoles",
                    PolicyDocument=PolicyDocument(
                        Version="2012-10-17",
                        Statement=deployer_statements(role_arns, managed_policies, boundaries),
                    ),
                )
            ],
        )
    )
    t.add_output(Output("DeployerRoleArn", Value=GetAtt(role, "Arn")))
    return role


def pass_deployer_role(sid: str = "PassManagementStackDeployer") -> Statement:
    """For the sync role: pass the deployer role, and only to CloudFormation (iam:PassedToService:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_PassedToService)."""
    return Statement(
        Sid=sid,
        Effect=Allow,
        Action=[iam_actions.PassRole],
        Resource=[
            Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/${{StackSetPrefix}}{DEPLOYER_SUFFIX}")
        ],
        Condition=Condition(StringEquals({"iam:PassedToService": CFN_SERVICE})),
    )
