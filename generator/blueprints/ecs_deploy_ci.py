"""Blueprint: the CI-account half of event-driven ECS deploys: a publisher role that may publish deploy and
rollback messages to one workload account's deploy topic, and nothing else.

Deploy this stack first (the workload template's topic policy names the role, which must exist), then
the ecs-deploy-workload stack in the workload account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import awacs.kms as kms_actions
import awacs.sns as sns_actions
from awacs.aws import Allow, Condition, PolicyDocument, Statement, StringEquals
from troposphere import Equals, GetAtt, If, Not, Output, Parameter, Ref, Select, Split, Sub, Template, iam

from generator.blueprints.base import Blueprint, RenderContext, apply_tags, new_template, standard_tags
from generator.blueprints.parts.iam import ci_external_id_parameter, ci_publisher_role

PATH = "app/ecs-deploy-ci.yaml"
TOPIC_ARN_PATTERN = "^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$"
HAS_KEY_ARN = "TopicKeyArnGiven"

# The parameters besides Project and CiExternalId, with their CloudFormation properties.
PARAMETERS: dict[str, dict[str, Any]] = {
    "TopicArn": {
        "Type": "String",
        "AllowedPattern": TOPIC_ARN_PATTERN,
        "Description": "Deploy topic in the workload account (arn:aws:sns:REGION:WORKLOAD_ACCOUNT:TopicName)",
    },
    "TopicKeyArn": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$",
        "Description": "KMS key of the topic (the workload stack's TopicKeyArn output); empty until that "
        "stack exists, then any key of the topic's account used through SNS, which that key's policy narrows",
    },
    "PublisherRoleName": {
        "Type": "String",
        "Default": "app-deploy-publisher",
        "AllowedPattern": "^[A-Za-z0-9+=,.@_-]{1,64}$",
        "Description": "Name of the publisher role (the workload stack's PublisherRoleArn refers to it)",
    },
    "CiPrincipalArns": {
        "Type": "CommaDelimitedList",
        "Description": "CI identities (role or user ARNs) allowed to assume the publisher role",
    },
}


def _publisher_policy(t: Template, p: Mapping[str, Parameter]) -> iam.ManagedPolicy:
    """Publish to the one topic, and use its KMS key through SNS only."""
    topic_arn, key_arn = p["TopicArn"], p["TopicKeyArn"]
    topic_region = Select(3, Split(":", Ref(topic_arn)))
    topic_account = Select(4, Split(":", Ref(topic_arn)))
    any_key_of_topic_account = Sub(
        "arn:${AWS::Partition}:kms:${Region}:${Account}:key/*", Region=topic_region, Account=topic_account
    )
    return t.add_resource(
        iam.ManagedPolicy(
            "PublisherPolicy",
            Description="Publish deploy and rollback messages to one SNS topic",
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    Statement(
                        Sid="PublishDeploys",
                        Effect=Allow,
                        Action=[sns_actions.Publish],
                        Resource=[Ref(topic_arn)],
                    ),
                    # Publishing to an SSE-KMS topic needs the key through SNS; in another account both this
                    # policy and the key policy must allow it, and the key policy names only this role.
                    # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
                    Statement(
                        Sid="EncryptThroughSns",
                        Effect=Allow,
                        Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey],
                        Resource=[If(HAS_KEY_ARN, Ref(key_arn), any_key_of_topic_account)],
                        Condition=Condition(
                            StringEquals(
                                {
                                    "kms:ViaService": Sub(
                                        "sns.${Region}.${AWS::URLSuffix}", Region=topic_region
                                    )
                                }
                            )
                        ),
                    ),
                ],
            ),
        )
    )


def build_template() -> Template:
    t, project = new_template(
        "CI account: the publisher role allowed to publish ECS deploy and rollback messages to one workload "
        "account's deploy topic (sns:Publish on that topic, and use of its KMS key through SNS only).",
        project_default="app",
    )
    p = {name: t.add_parameter(Parameter(name, **props)) for name, props in PARAMETERS.items()}
    external_id = ci_external_id_parameter(t)
    t.add_condition(HAS_KEY_ARN, Not(Equals(Ref(p["TopicKeyArn"]), "")))
    policy = _publisher_policy(t, p)
    role = t.add_resource(
        ci_publisher_role(
            "Assumed by CI to publish ECS deploy and rollback messages",
            Ref(p["CiPrincipalArns"]),
            external_id,
            policy,
            RoleName=Ref(p["PublisherRoleName"]),
        )
    )
    t.add_output(
        [
            Output("PublisherRoleArn", Value=GetAtt(role, "Arn"), Description="Pass to the workload stack"),
            Output("PublisherPolicyArn", Value=Ref(policy)),
        ]
    )
    return apply_tags(t, standard_tags(project))


def build(ctx: RenderContext) -> Mapping[str, Template]:
    return {PATH: build_template()}


BLUEPRINT = Blueprint(
    name="ecs-deploy-ci",
    description="Event-driven ECS deploys, CI account: the role that publishes deploy/rollback messages",
    outputs=(PATH,),
    build=build,
    module=__name__,
)
