"""How much a role change matters: broadened, narrowed or neutral, plus flags a reviewer must see.

Privilege escalation: actions that let the holder give itself (or a service it controls) more access.
The list follows the well-known IAM escalation paths (Rhino Security Labs' "AWS IAM Privilege
Escalation" methods and the IAM documentation on iam:PassRole):
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

from generator.review.iamview import Grant, TrustGrant

ESCALATION_ACTIONS = (
    "iam:PassRole",
    "iam:CreateRole",
    "iam:CreateUser",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:AddUserToGroup",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:PutUserPermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "lambda:CreateFunction",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:AddPermission",
    "glue:CreateDevEndpoint",
    "glue:UpdateDevEndpoint",
    "cloudformation:CreateStack",
    "cloudformation:UpdateStack",
    "cloudformation:CreateChangeSet",
    "codebuild:CreateProject",
    "codebuild:UpdateProject",
    "ec2:RunInstances",
    "ssm:SendCommand",
    "ssm:StartSession",
    "sts:AssumeRole",  # only on Resource "*": assuming any role that trusts this account
)
# AWS managed policies that grant one of the above wholesale.
ESCALATION_MANAGED_POLICIES = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess")

BROADENED = "broadened"
NARROWED = "narrowed"
NEUTRAL = "neutral"

FLAG_WILDCARD = "wildcard"
FLAG_ESCALATION = "privilege-escalation"
FLAG_TRUST_WIDENED = "trust-widened"
FLAG_CONDITION_REMOVED = "condition-removed"
FLAG_MFA_DROPPED = "mfa-dropped"
FLAG_REMOVED = "removed"
FLAGS = (
    FLAG_WILDCARD,
    FLAG_ESCALATION,
    FLAG_TRUST_WIDENED,
    FLAG_CONDITION_REMOVED,
    FLAG_MFA_DROPPED,
    FLAG_REMOVED,
)

MFA_KEY = "aws:multifactorauthpresent"


def is_wildcard(grant: Grant) -> bool:
    return grant.effect == "Allow" and ("*" in grant.action or grant.resource == "*")


def escalates(grant: Grant) -> bool:
    if grant.effect != "Allow":
        return False
    for action in ESCALATION_ACTIONS:
        if fnmatchcase(action.lower(), grant.action.lower()):
            return action != "sts:AssumeRole" or grant.resource == "*"
    return False


def escalating_policy(arn: str) -> bool:
    return arn.rsplit("/", 1)[-1] in ESCALATION_MANAGED_POLICIES


def _condition_keys(conditions: str) -> set[tuple[str, str]]:
    if not conditions:
        return set()
    data = json.loads(conditions)
    return {(op, key.lower()) for op, pairs in data.items() for key in pairs}


def trust_flags(added: frozenset[TrustGrant], removed: frozenset[TrustGrant]) -> set[str]:
    """trust-widened for any new principal grant; condition-removed / mfa-dropped when a principal
    that was trusted under conditions is now trusted under fewer."""
    flags: set[str] = set()
    if added:
        flags.add(FLAG_TRUST_WIDENED)
    for new in added:
        for old in removed:
            if (old.kind, old.principal, old.action) != (new.kind, new.principal, new.action):
                continue
            lost = _condition_keys(old.conditions) - _condition_keys(new.conditions)
            if lost:
                flags.add(FLAG_CONDITION_REMOVED)
            if any(key == MFA_KEY for _, key in lost):
                flags.add(FLAG_MFA_DROPPED)
    return flags
