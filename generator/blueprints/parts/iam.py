"""IAM pieces: service-role trust, a role with one inline policy, the role CI assumes with an external id,
and the statements several blueprints grant (TLS only, passing task roles to ECS, tagging new task definitions).
"""

from __future__ import annotations

from typing import Any

import awacs.ecs as ecs_actions
import awacs.iam as iam_actions
import awacs.sts as sts_actions
from awacs.aws import (
    Allow,
    ArnLike,
    Bool,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import AccountId, Parameter, Ref, Template, iam


def service_trust(service: str, source_arn: Any = None) -> PolicyDocument:
    """Trust for an AWS service principal, limited to this account (and to one resource when given).

    aws:SourceAccount / aws:SourceArn are the cross-service confused deputy guard:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
    """
    conditions: list[Any] = [StringEquals({"aws:SourceAccount": AccountId})]
    if source_arn is not None:
        conditions.append(ArnLike({"aws:SourceArn": source_arn}))
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Effect=Allow,
                Principal=Principal("Service", [service]),
                Action=[sts_actions.AssumeRole],
                Condition=Condition(conditions),
            )
        ],
    )


def role_with_policy(
    title: str,
    description: str,
    trust: PolicyDocument,
    statements: list[Statement],
    *,
    policy_name: str | None = None,
    **kwargs: Any,
) -> iam.Role:
    """A single-purpose role: its trust and one inline policy holding `statements`, named `policy_name`
    (by default after the role). Other role properties (Condition, Metadata, ...) go in `kwargs`."""
    return iam.Role(
        title,
        Description=description,
        AssumeRolePolicyDocument=trust,
        Policies=[
            iam.Policy(
                PolicyName=policy_name or title,
                PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements),
            )
        ],
        **kwargs,
    )


def trust_with_external_id(principals: Any, external_id: Any) -> PolicyDocument:
    """Trust for named AWS principals (any account) that must present the external id."""
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Effect=Allow,
                Principal=Principal("AWS", principals),
                Action=[sts_actions.AssumeRole],
                Condition=Condition(StringEquals({"sts:ExternalId": external_id})),
            )
        ],
    )


def ci_external_id_parameter(t: Template) -> Parameter:
    """The secret external id CI presents when it assumes a publisher role (see `ci_publisher_role`)."""
    return t.add_parameter(
        Parameter(
            "CiExternalId",
            Type="String",
            MinLength=8,
            MaxLength=1224,
            AllowedPattern="^[A-Za-z0-9+=,.@:/-]+$",
            NoEcho=True,
            Description="External id the CI must present when assuming the publisher role",
        )
    )


def ci_publisher_role(
    description: str, principals: Any, external_id: Parameter, policy: iam.ManagedPolicy, **kwargs: Any
) -> iam.Role:
    """The role CI identities (any account) assume with the external id, for one-hour sessions, holding
    `policy`: a managed policy, so it can also be attached to a CI user or group directly."""
    return iam.Role(
        "PublisherRole",
        Description=description,
        MaxSessionDuration=3600,
        AssumeRolePolicyDocument=trust_with_external_id(principals, Ref(external_id)),
        ManagedPolicyArns=[Ref(policy)],
        **kwargs,
    )


def deny_insecure_transport(actions: list[Any], resources: list[Any]) -> Statement:
    """Refuse requests not made over TLS (resource policy statement, for every principal)."""
    return Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=actions,
        Resource=resources,
        Condition=Condition(Bool({"aws:SecureTransport": False})),
    )


def pass_roles_to_ecs_tasks(task_roles: Any) -> Statement:
    """iam:PassRole on the task and execution roles a new task definition names, to ECS tasks only."""
    return Statement(
        Sid="PassTaskRoles",
        Effect=Allow,
        Action=[iam_actions.PassRole],
        Resource=task_roles,
        Condition=Condition(StringEquals({"iam:PassedToService": "ecs-tasks.amazonaws.com"})),
    )


def tag_new_task_definitions(task_definitions: Any) -> Statement:
    """Tags given at RegisterTaskDefinition are authorized as ecs:TagResource on the new revision:
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/supported-iam-actions-tagging.html
    """
    return Statement(
        Sid="TagNewRevisions",
        Effect=Allow,
        Action=[ecs_actions.TagResource],
        Resource=[task_definitions],
        Condition=Condition(StringEquals({"ecs:CreateAction": "RegisterTaskDefinition"})),
    )
