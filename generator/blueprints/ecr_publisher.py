"""Blueprint: an ECR repository and a least-privilege CI publisher that pushes images and deploys to ECS."""

from __future__ import annotations

from collections.abc import Mapping

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


def build_template() -> Template:
    t, project = new_template(
        "ECR repository (immutable tags, scan on push, KMS encryption, lifecycle) and a CI publisher "
        "role allowed to push to it and deploy one ECS service.",
        project_default="app",
    )
    repo_name = t.add_parameter(
        Parameter(
            "RepositoryName",
            Type="String",
            Default="app",
            AllowedPattern=REPOSITORY_NAME_PATTERN,
            Description="Name of the ECR repository",
        )
    )
    t.add_parameter(
        Parameter(
            "KeepImages",
            Type="Number",
            Default=30,
            MinValue=1,
            MaxValue=1000,
            Description="How many most recent images the lifecycle rule keeps",
        )
    )
    cluster = t.add_parameter(
        Parameter("EcsClusterName", Type="String", Default="app", Description="ECS cluster the CI deploys to")
    )
    service = t.add_parameter(
        Parameter(
            "EcsServiceName",
            Type="String",
            Default="app",
            Description="ECS service (in that cluster) the CI may update; '*' for every service of the cluster",
        )
    )
    task_roles = t.add_parameter(
        Parameter(
            "TaskRoleArns",
            Type="CommaDelimitedList",
            Description="Task role and execution role ARNs the new task definitions use (iam:PassRole targets)",
        )
    )
    ci_principal = t.add_parameter(
        Parameter(
            "CiPrincipalArn",
            Type="String",
            AllowedPattern="^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$",
            Description="ARN of the CI identity (role or user, any account) allowed to assume the publisher role",
        )
    )
    external_id = ci_external_id_parameter(t)

    repository = t.add_resource(
        ecr.Repository(
            "Repository",
            RepositoryName=Ref(repo_name),
            ImageTagMutability="IMMUTABLE",
            ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=True),
            EncryptionConfiguration=ecr.EncryptionConfiguration(EncryptionType="KMS"),
            LifecyclePolicy=ecr.LifecyclePolicy(LifecyclePolicyText=Sub(LIFECYCLE_POLICY)),
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
        )
    )
    service_arn = Sub(
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${Cluster}/${Service}",
        Cluster=Ref(cluster),
        Service=Ref(service),
    )
    policy = t.add_resource(
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
                    pass_roles_to_ecs_tasks(Ref(task_roles)),
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
    role = t.add_resource(
        ci_publisher_role(
            "Assumed by CI to push images and deploy the ECS service",
            [Ref(ci_principal)],
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
