"""Known privilege-escalation action sets: what, granted together on `Resource: "*"`, lets a principal give
itself (or run code as) a more powerful identity. Shared by the lint rule E9106 and the org_roles loader, so
rendered templates and org admins' own role files are judged by one list.

Sources (each set names its own):
- Rhino Security Labs, "AWS IAM Privilege Escalation - Methods and Mitigation" (the 21 methods),
  https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/
- Bishop Fox, "iam-vulnerable" (its privesc paths, the later additions: SSM, EC2 Instance Connect,
  CloudFormation stack updates, SageMaker notebooks), https://github.com/BishopFox/iam-vulnerable
- The AWS API references for the other "run code as the resource's existing role" cases (Lambda layers,
  ECS command overrides, CodeBuild buildspec overrides), cited per set.

Sets that need iam:PassRole are left out on purpose: iam:PassRole on `*` is refused on its own (E9104 and
the loader), which closes every one of them, and reporting them twice would only add noise.

Pure: data and a matcher, no cfn-lint and no AWS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

RHINO = "https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/"
BISHOP_FOX = "https://github.com/BishopFox/iam-vulnerable"


@dataclass(frozen=True)
class EscalationSet:
    """Actions that together, on every resource, let the holder escalate; `how` says in a few words how."""

    actions: tuple[str, ...]
    how: str
    source: str


ESCALATION_SETS: tuple[EscalationSet, ...] = (
    EscalationSet(("iam:CreatePolicyVersion",), "rewrite a policy attached to itself", RHINO),
    EscalationSet(("iam:SetDefaultPolicyVersion",), "switch its policy to a broader version", RHINO),
    EscalationSet(("iam:CreateAccessKey",), "mint keys for any user", RHINO),
    EscalationSet(("iam:CreateLoginProfile",), "set a console password for any user", RHINO),
    EscalationSet(("iam:UpdateLoginProfile",), "reset any user's console password", RHINO),
    EscalationSet(("iam:AttachUserPolicy",), "attach AdministratorAccess to a user", RHINO),
    EscalationSet(("iam:AttachGroupPolicy",), "attach AdministratorAccess to a group", RHINO),
    EscalationSet(("iam:AttachRolePolicy",), "attach AdministratorAccess to a role", RHINO),
    EscalationSet(("iam:PutUserPolicy",), "write an inline admin policy on a user", RHINO),
    EscalationSet(("iam:PutGroupPolicy",), "write an inline admin policy on a group", RHINO),
    EscalationSet(("iam:PutRolePolicy",), "write an inline admin policy on a role", RHINO),
    EscalationSet(("iam:AddUserToGroup",), "join an administrators group", RHINO),
    EscalationSet(
        ("iam:UpdateAssumeRolePolicy", "sts:AssumeRole"), "trust itself in any role, then assume it", RHINO
    ),
    EscalationSet(("lambda:UpdateFunctionCode",), "run its code as any function's role", RHINO),
    # A layer or a new handler runs code as the function's role
    # (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html).
    EscalationSet(
        ("lambda:UpdateFunctionConfiguration",),
        "add a layer that runs as any function's role",
        "https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html",
    ),
    EscalationSet(("glue:UpdateDevEndpoint",), "add its SSH key to any Glue endpoint's role", RHINO),
    # containerOverrides.command runs any command as the task definition's own task role, no PassRole
    # needed (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html).
    EscalationSet(
        ("ecs:RunTask",),
        "run any command as any task definition's role",
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html",
    ),
    # buildspecOverride runs any script as the project's service role
    # (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html).
    EscalationSet(
        ("codebuild:StartBuild",),
        "run any buildspec as any project's role",
        "https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html",
    ),
    EscalationSet(("ssm:SendCommand",), "run commands on any instance, as its role", BISHOP_FOX),
    EscalationSet(("ssm:StartSession",), "open a shell on any instance, as its role", BISHOP_FOX),
    EscalationSet(
        ("ec2-instance-connect:SendSSHPublicKey",), "log in to any instance, as its role", BISHOP_FOX
    ),
    # An update runs with the service role the stack already has, with no iam:PassRole.
    EscalationSet(("cloudformation:UpdateStack",), "update any stack as its service role", BISHOP_FOX),
    EscalationSet(
        ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"),
        "change any stack as its service role",
        BISHOP_FOX,
    ),
    EscalationSet(
        ("sagemaker:CreatePresignedNotebookInstanceUrl",), "open any notebook, as its role", BISHOP_FOX
    ),
)


def grants(pattern: str, action: str) -> bool:
    """True when an Action entry (maybe with wildcards, any case) covers `action`."""
    return fnmatchcase(action.lower(), pattern.lower())


def escalation_sets(granted_on_everything: Iterable[str]) -> list[EscalationSet]:
    """The sets fully covered by the Action entries allowed on `Resource: "*"` (an entry `*` is left to the
    break-glass check)."""
    patterns = [p for p in granted_on_everything if p not in ("*", "*:*")]
    return [s for s in ESCALATION_SETS if all(any(grants(p, a) for p in patterns) for a in s.actions)]


def describe(found: EscalationSet) -> str:
    return f"{' + '.join(found.actions)} on '*' ({found.how})"
