"""Blueprint: an ECR repository and a least-privilege CI publisher that pushes images and deploys to ECS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import awacs.ecs as ecs_actions
from awacs.aws import Allow, PolicyDocument, Statement
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Template, ecr, iam

from generator.blueprints.base import Blueprint, RenderContext, apply_tags, new_template, standard_tags
from generator.blueprints.parts.ecr import REPOSITORY_NAME_PATTERN, ecr_push_statements
from generator.blueprints.parts.iam import (
    ci_external_id_parameter,
    ci_publisher_role,
    pass_roles_to_ecs_tasks,
)
from generator.blueprints.parts.metadata import checkov_skips

PATH = "app/ecr-publisher.yaml"

# The parameters besides Project and CiExternalId, with their CloudFormation properties.
PARAMETERS: dict[str, dict[str, Any]] = {
    "RepositoryName": {
        "Type": "String",
        "Default": "app",
        "AllowedPattern": REPOSITORY_NAME_PATTERN,
        "Description": "Name of the ECR repository",
    },
    "KeepImages": {
        "Type": "Number",
        "Default": 30,
        "MinValue": 1,
        "MaxValue": 1000,
        "Description": "How many most recent images the lifecycle rule keeps",
    },
    "EcsClusterName": {"Type": "String", "Default": "app", "Description": "ECS cluster the CI deploys to"},
    "EcsServiceName": {
        "Type": "String",
        "Default": "app",
        "Description": "ECS service (in that cluster) the CI may update; '*' for every service of the cluster",
    },
    "TaskRoleArns": {
        "Type": "CommaDelimitedList",
        "Description": "Task role and execution role ARNs the new task definitions use (iam:PassRole targets)",
    },
    "CiPrincipalArn": {
        "Type": "String",
        "AllowedPattern": "^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$",
        "Description": "ARN of the CI identity (role or user, any account) allowed to assume the publisher role",
    },
}

LIFECYCLE_POLICY = """{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Keep the last ${KeepImages} images",
      "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": ${KeepImages}},
      "action": {"type": "expire"}
    }
  ]
}"""


def _repository(t: Template, p: Mapping[str, Parameter]) -> ecr.Repository:
    return t.add_resource(
        ecr.Repository(
            "Repository",
            RepositoryName=Ref(p["RepositoryName"]),
            ImageTagMutability="IMMUTABLE",
            ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=True),
            EncryptionConfiguration=ecr.EncryptionConfiguration(EncryptionType="KMS"),
            LifecyclePolicy=ecr.LifecyclePolicy(LifecyclePolicyText=Sub(LIFECYCLE_POLICY)),
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
        )
    )


def _publisher_policy(
    t: Template, p: Mapping[str, Parameter], repository: ecr.Repository
) -> iam.ManagedPolicy:
    """Push to the repository and roll one ECS service to a new task definition."""
    service_arn = Sub(
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${Cluster}/${Service}",
        Cluster=Ref(p["EcsClusterName"]),
        Service=Ref(p["EcsServiceName"]),
    )
    return t.add_resource(
        iam.ManagedPolicy(
            "PublisherPolicy",
            Description="Push images to one ECR repository and roll one ECS service to a new task definition",
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    *ecr_push_statements(GetAtt(repository, "Arn")),
                    Statement(
                        Sid="RollService",
                        Effect=Allow,
                        Action=[ecs_actions.DescribeServices, ecs_actions.UpdateService],
                        Resource=[service_arn],
                    ),
                    # Task definitions cannot be scoped: the Service Authorization Reference lists no
                    # resource type for ecs:RegisterTaskDefinition or ecs:DescribeTaskDefinition.
                    Statement(
                        Sid="TaskDefinitions",
                        Effect=Allow,
                        Action=[ecs_actions.DescribeTaskDefinition, ecs_actions.RegisterTaskDefinition],
                        Resource=["*"],
                    ),
                    pass_roles_to_ecs_tasks(Ref(p["TaskRoleArns"])),
                ],
            ),
            Metadata=checkov_skips(
                (
                    "CKV_AWS_111",
                    "ecs:RegisterTaskDefinition has no resource-level permissions; "
                    "everything else in this policy is scoped to ARNs",
                )
            ),
        )
    )


def build_template() -> Template:
    t, project = new_template(
        "ECR repository (immutable tags, scan on push, KMS encryption, lifecycle) and a CI publisher "
        "role allowed to push to it and deploy one ECS service.",
        project_default="app",
    )
    p = {name: t.add_parameter(Parameter(name, **props)) for name, props in PARAMETERS.items()}
    external_id = ci_external_id_parameter(t)
    repository = _repository(t, p)
    policy = _publisher_policy(t, p, repository)
    role = t.add_resource(
        ci_publisher_role(
            "Assumed by CI to push images and deploy the ECS service",
            [Ref(p["CiPrincipalArn"])],
            external_id,
            policy,
        )
    )
    t.add_output(
        [
            Output("RepositoryArn", Value=GetAtt(repository, "Arn")),
            Output("RepositoryUri", Value=GetAtt(repository, "RepositoryUri")),
            Output("PublisherRoleArn", Value=GetAtt(role, "Arn")),
            Output(
                "PublisherPolicyArn",
                Value=Ref(policy),
                Description="Attach to a CI user or group instead of assuming the role",
            ),
        ]
    )
    return apply_tags(t, standard_tags(project))


def build(ctx: RenderContext) -> Mapping[str, Template]:
    return {PATH: build_template()}


BLUEPRINT = Blueprint(
    name="ecr-publisher",
    description="Container registry (ECR) and a least-privilege CI publisher for push and ECS deploy",
    outputs=(PATH,),
    build=build,
    module=__name__,
)
