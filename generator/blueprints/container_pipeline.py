"""Blueprint: a container delivery pipeline: GitHub source, CodeBuild build and push to ECR, manual
approval by email, then deploy to ECS (the CodePipeline ECS action) or to EKS (CodeBuild running kubectl).

The buildspecs are shipped as files in pipeline/buildspecs/ (package data) and embedded in the CodeBuild
projects at render time, so the application repository needs only its Dockerfile (and, for EKS, its
Kubernetes manifests).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import awacs.codebuild as codebuild_actions
import awacs.codeconnections as codeconnections_actions
import awacs.codestar_connections as codestar_connections_actions
import awacs.ecs as ecs_actions
import awacs.eks as eks_actions
import awacs.s3 as s3_actions
import awacs.sns as sns_actions
import awacs.sts as sts_actions
from awacs.aws import (
    Allow,
    ArnEquals,
    Condition,
    PolicyDocument,
    Principal,
    Statement,
    StringLike,
)
from troposphere import (
    And,
    Equals,
    GetAtt,
    If,
    Join,
    Not,
    Output,
    Parameter,
    Ref,
    Sub,
    Template,
    codebuild,
    codepipeline,
    eks,
    iam,
    kms,
    logs,
    s3,
    sns,
)
from troposphere import Condition as CfnCondition

from generator.blueprints.base import Blueprint, RenderContext, apply_tags, new_template, standard_tags
from generator.blueprints.parts.buckets import artifact_bucket, artifact_objects
from generator.blueprints.parts.ecr import REPOSITORY_NAME_PATTERN, ecr_push_statements
from generator.blueprints.parts.iam import (
    pass_roles_to_ecs_tasks,
    role_with_policy,
    service_trust,
    tag_new_task_definitions,
)
from generator.blueprints.parts.kms_logs import (
    customer_key,
    encrypted_log_group,
    log_retention_parameter,
    logs_may_use_key,
    use_key,
    write_logs,
)
from generator.blueprints.parts.metadata import checkov_skips

PATH = "app/container-pipeline.yaml"
BUILD_SPEC = "build.yml"
DEPLOY_EKS_SPEC = "deploy-eks.yml"
IS_ECS = "DeployToEcs"
IS_EKS = "DeployToEks"
PASSES_ROLES = "EcsPassesTaskRoles"
DNS_LABEL = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


S = "String"
# The parameters, in console order, under the group the CloudFormation console shows them in.
PARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    "Source and build": {
        "PipelineName": {
            "Default": "app",
            "AllowedPattern": "^[A-Za-z0-9][A-Za-z0-9-]{0,49}$",
            "Description": "Name of the pipeline; its CodeBuild projects are <name>-build and <name>-deploy",
        },
        "ConnectionArn": {
            "AllowedPattern": "^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:[0-9]{12}:connection/[0-9a-f-]+$",
            "Description": "CodeConnections (CodeStar Connections) connection to GitHub, already authorized",
        },
        "FullRepositoryId": {
            "AllowedPattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
            "Description": "GitHub repository as owner/name",
        },
        "BranchName": {"Default": "main", "Description": "Branch whose pushes start the pipeline"},
        "RepositoryName": {
            "Default": "app",
            "AllowedPattern": REPOSITORY_NAME_PATTERN,
            "Description": "ECR repository (from the ecr-publisher stack) the image is pushed to",
        },
        "DockerfilePath": {"Default": "Dockerfile", "Description": "Dockerfile, relative to the repository"},
        "BuildContext": {"Default": ".", "Description": "Docker build context, relative to the repository"},
        "BuildImage": {
            "Default": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
            "Description": "CodeBuild image for the build and deploy projects",
        },
        "BuildComputeType": {
            "Default": "BUILD_GENERAL1_SMALL",
            "AllowedValues": ["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"],
            "Description": "CodeBuild compute type",
        },
    },
    "Approval and target": {
        "ApprovalEmail": {
            "AllowedPattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
            "Description": "Email address asked to approve each deploy (confirm the SNS subscription once)",
        },
        "DeployTarget": {
            "Default": "ECS",
            "AllowedValues": ["ECS", "EKS"],
            "Description": "Deploy to an ECS service (CodePipeline ECS action) or to EKS (CodeBuild with kubectl)",
        },
    },
    "ECS target": {
        "EcsClusterName": {"Default": "app", "Description": "ECS: cluster of the service"},
        "EcsServiceName": {"Default": "app", "Description": "ECS: service to deploy"},
        "ContainerName": {
            "Default": "app",
            "Description": "ECS: container (in the task definition) that runs the image",
        },
        "EcsTaskFamily": {
            "Default": "app",
            "Description": "ECS: task definition family of the service (new revisions are tagged on registration)",
        },
        "TaskRoleArns": {
            "Type": "CommaDelimitedList",
            "Default": "",
            "Description": "ECS: task and execution role ARNs of the task definition (iam:PassRole targets)",
        },
    },
    "EKS target": {
        "EksClusterName": {
            "Default": "app",
            "Description": "EKS: cluster (authentication mode API or API_AND_CONFIG_MAP, for access entries)",
        },
        "KubernetesNamespace": {
            "Default": "app",
            "AllowedPattern": DNS_LABEL,
            "Description": "EKS: namespace the deploy may change; the access entry is scoped to it",
        },
        "DeploymentName": {
            "Default": "app",
            "AllowedPattern": DNS_LABEL,
            "Description": "EKS: Deployment whose rollout the deploy waits for",
        },
        "ManifestsPath": {
            "Default": "kube-manifests",
            "Description": "EKS: folder of Kubernetes manifests in the repository; CONTAINER_IMAGE in them becomes the image",
        },
        "KubectlVersion": {
            "Default": "1.31.0",
            "AllowedPattern": "^[0-9]+\\.[0-9]+\\.[0-9]+$",
            "Description": "EKS: kubectl release to install (within one minor version of the cluster)",
        },
        "EksAccessPolicy": {
            "Default": "AmazonEKSEditPolicy",
            "AllowedValues": ["AmazonEKSEditPolicy", "AmazonEKSAdminPolicy"],
            "Description": "EKS: access policy granted in the namespace (Edit cannot change RBAC; Admin can)",
        },
        "RolloutTimeoutSeconds": {
            "Type": "Number",
            "Default": 600,
            "MinValue": 60,
            "MaxValue": 3000,
            "Description": "EKS: how long to wait for the rollout (the kubectl session lasts one hour)",
        },
    },
    "Operations": {
        "ArtifactRetentionDays": {
            "Type": "Number",
            "Default": 30,
            "MinValue": 1,
            "MaxValue": 3650,
            "Description": "Days pipeline artifacts are kept",
        },
    },
}


def _parameters(t: Template) -> dict[str, Parameter]:
    p = {
        name: t.add_parameter(Parameter(name, **{"Type": S, **props}))
        for group in PARAMETERS.values()
        for name, props in group.items()
    }
    p["LogRetentionDays"] = log_retention_parameter(t)
    return p


def _interface() -> dict[str, Any]:
    """Console grouping of the parameters (Project and log retention join the operations group)."""
    extra = {"Operations": ["Project", "LogRetentionDays"]}
    return {
        "AWS::CloudFormation::Interface": {
            "ParameterGroups": [
                {"Label": {"default": label}, "Parameters": [*names, *extra.get(label, [])]}
                for label, names in PARAMETERS.items()
            ]
        }
    }


@dataclass(frozen=True)
class _Store:
    """What the pipeline's resource groups share: the template, its parameters, the key that encrypts the
    artifacts, logs and notifications, and the artifact bucket."""

    t: Template
    p: dict[str, Parameter]
    key: kms.Key
    bucket: s3.Bucket


def _artifact_store(t: Template, p: dict[str, Parameter]) -> _Store:
    key = t.add_resource(
        customer_key(
            "ArtifactKey",
            "Encrypts the pipeline artifacts, build logs and approval notifications",
            [logs_may_use_key()],
        )
    )
    bucket = artifact_bucket(t, "ArtifactBucket", key, Ref(p["ArtifactRetentionDays"]))
    return _Store(t=t, p=p, key=key, bucket=bucket)


def _project(
    s: _Store,
    title: str,
    name: Any,
    role: iam.Role,
    log_group: Any,
    spec: str,
    variables: dict[str, Any],
    privileged: bool,
    **extra: Any,
) -> codebuild.Project:
    return codebuild.Project(
        title,
        Name=name,
        ServiceRole=GetAtt(role, "Arn"),
        EncryptionKey=GetAtt(s.key, "Arn"),
        Artifacts=codebuild.Artifacts(Type="CODEPIPELINE"),
        Source=codebuild.Source(Type="CODEPIPELINE", BuildSpec=spec),
        Environment=codebuild.Environment(
            Type="LINUX_CONTAINER",
            ComputeType=Ref(s.p["BuildComputeType"]),
            Image=Ref(s.p["BuildImage"]),
            PrivilegedMode=privileged,
            EnvironmentVariables=[
                codebuild.EnvironmentVariable(Name=k, Type="PLAINTEXT", Value=v)
                for k, v in sorted(variables.items())
            ],
        ),
        LogsConfig=codebuild.LogsConfig(
            CloudWatchLogs=codebuild.CloudWatchLogs(Status="ENABLED", GroupName=Ref(log_group))
        ),
        TimeoutInMinutes=60,
        QueuedTimeoutInMinutes=60,
        **extra,
    )


def _build_stage(s: _Store, spec: str) -> codebuild.Project:
    t, p, key, bucket = s.t, s.p, s.key, s.bucket
    name = Sub("${PipelineName}-build")
    log_group = t.add_resource(
        encrypted_log_group(
            "BuildLogGroup", Sub("/aws/codebuild/${PipelineName}-build"), key, p["LogRetentionDays"]
        )
    )
    repository_arn = Sub(
        "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${RepositoryName}"
    )
    role = t.add_resource(
        role_with_policy(
            "BuildRole",
            "CodeBuild: build the image and push it to one ECR repository",
            service_trust(
                "codebuild.amazonaws.com",
                Sub(
                    "arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:project/${PipelineName}-build"
                ),
            ),
            [
                write_logs(log_group),
                artifact_objects(bucket, write=True),
                use_key(key),
                *ecr_push_statements(repository_arn),
            ],
            policy_name="build-and-push",
        )
    )
    return t.add_resource(
        _project(
            s,
            "BuildProject",
            name,
            role,
            log_group,
            spec,
            {
                "REPOSITORY_URI": Sub(
                    "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${RepositoryName}"
                ),
                "REPOSITORY_NAME": Ref(p["RepositoryName"]),
                "CONTAINER_NAME": Ref(p["ContainerName"]),
                "DOCKERFILE": Ref(p["DockerfilePath"]),
                "BUILD_CONTEXT": Ref(p["BuildContext"]),
            },
            privileged=True,
            Description="Build the image, tag it with the short commit id and push it to ECR",
            Metadata=checkov_skips(
                (
                    "CKV_AWS_316",
                    "docker build needs the Docker daemon, which CodeBuild runs only in privileged mode",
                )
            ),
        )
    )


def _deploy_role(s: _Store, log_group: logs.LogGroup) -> iam.Role:
    """The EKS deploy project's own role: read the manifests (and assume the kubectl role, see below)."""
    return s.t.add_resource(
        role_with_policy(
            "DeployRole",
            "CodeBuild: read the manifests and assume the kubectl role",
            service_trust(
                "codebuild.amazonaws.com",
                Sub(
                    "arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:project/${PipelineName}-deploy"
                ),
            ),
            [write_logs(log_group), artifact_objects(s.bucket, write=False), use_key(s.key)],
            policy_name="read-manifests",
            Condition=IS_EKS,
        )
    )


def _kubectl_role(t: Template, deploy_role: iam.Role) -> iam.Role:
    """The kubectl identity: only the deploy role may assume it, and IAM lets it only find the cluster."""
    return t.add_resource(
        role_with_policy(
            "KubectlRole",
            "kubectl identity of the deploy project; an EKS access entry limits it to one namespace",
            PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    # Only the deploy project's role, not the account root, and only sessions named after
                    # a CodeBuild build, which the Kubernetes audit log then shows for every change.
                    Statement(
                        Effect=Allow,
                        Principal=Principal("AWS", [GetAtt(deploy_role, "Arn")]),
                        Action=[sts_actions.AssumeRole],
                        Condition=Condition(StringLike({"sts:RoleSessionName": "codebuild-*"})),
                    )
                ],
            ),
            [
                # update-kubeconfig reads the endpoint and CA; Kubernetes permissions come from the
                # access entry below, not from IAM.
                Statement(
                    Sid="DescribeCluster",
                    Effect=Allow,
                    Action=[eks_actions.DescribeCluster],
                    Resource=[
                        Sub(
                            "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/${EksClusterName}"
                        )
                    ],
                )
            ],
            policy_name="describe-cluster",
            Condition=IS_EKS,
            MaxSessionDuration=3600,
        )
    )


def _kubectl_access(s: _Store, deploy_role: iam.Role, kubectl_role: iam.Role) -> None:
    """The deploy role may assume the kubectl role, which the cluster lets into one namespace."""
    # A separate policy: the role's own inline policy would make the two roles refer to each other.
    s.t.add_resource(
        iam.PolicyType(
            "DeployAssumesKubectlRole",
            Condition=IS_EKS,
            PolicyName="assume-kubectl-role",
            Roles=[Ref(deploy_role)],
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    Statement(
                        Sid="AssumeKubectlRole",
                        Effect=Allow,
                        Action=[sts_actions.AssumeRole],
                        Resource=[GetAtt(kubectl_role, "Arn")],
                    )
                ],
            ),
        )
    )
    # An access entry instead of editing the aws-auth ConfigMap: managed by the EKS API (and so by this
    # stack), scoped to one namespace by an access policy.
    # https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html
    s.t.add_resource(
        eks.AccessEntry(
            "KubectlAccessEntry",
            Condition=IS_EKS,
            ClusterName=Ref(s.p["EksClusterName"]),
            PrincipalArn=GetAtt(kubectl_role, "Arn"),
            Type="STANDARD",
            AccessPolicies=[
                eks.AccessPolicy(
                    PolicyArn=Sub("arn:${AWS::Partition}:eks::aws:cluster-access-policy/${EksAccessPolicy}"),
                    AccessScope=eks.AccessScope(
                        Type="namespace", Namespaces=[Ref(s.p["KubernetesNamespace"])]
                    ),
                )
            ],
        )
    )


def _eks_deploy(s: _Store, spec: str) -> codebuild.Project:
    """CodeBuild project running kubectl as a dedicated role that only this project's role may assume."""
    t, p = s.t, s.p
    log_group = t.add_resource(
        encrypted_log_group(
            "DeployLogGroup", Sub("/aws/codebuild/${PipelineName}-deploy"), s.key, p["LogRetentionDays"]
        )
    )
    log_group.Condition = IS_EKS
    deploy_role = _deploy_role(s, log_group)
    kubectl_role = _kubectl_role(t, deploy_role)
    _kubectl_access(s, deploy_role, kubectl_role)
    project = _project(
        s,
        "DeployProject",
        Sub("${PipelineName}-deploy"),
        deploy_role,
        log_group,
        spec,
        {
            "EKS_CLUSTER_NAME": Ref(p["EksClusterName"]),
            "KUBECTL_ROLE_ARN": GetAtt(kubectl_role, "Arn"),
            "KUBECTL_VERSION": Ref(p["KubectlVersion"]),
            "KUBERNETES_NAMESPACE": Ref(p["KubernetesNamespace"]),
            "DEPLOYMENT_NAME": Ref(p["DeploymentName"]),
            "MANIFESTS_PATH": Ref(p["ManifestsPath"]),
            "ROLLOUT_TIMEOUT_SECONDS": Ref(p["RolloutTimeoutSeconds"]),
        },
        privileged=False,
        Description="Apply the Kubernetes manifests with the new image and wait for the rollout",
    )
    project.Condition = IS_EKS
    return t.add_resource(project)


def _pipeline_role(s: _Store, build: Any, topic: Any) -> iam.Role:
    """The pipeline's role; what it needs for the deploy target comes in conditional managed policies."""
    role = s.t.add_resource(
        role_with_policy(
            "PipelineRole",
            "CodePipeline: source, build, approval and deploy of one container application",
            service_trust("codepipeline.amazonaws.com"),
            [
                artifact_objects(s.bucket, write=True),
                Statement(
                    Sid="ArtifactBucket",
                    Effect=Allow,
                    Action=[s3_actions.GetBucketLocation, s3_actions.GetBucketVersioning],
                    Resource=[GetAtt(s.bucket, "Arn")],
                ),
                use_key(s.key),
                # Connections created before 2024 carry the codestar-connections prefix, newer
                # ones codeconnections; the action follows the ARN's prefix.
                Statement(
                    Sid="UseConnection",
                    Effect=Allow,
                    Action=[
                        codeconnections_actions.UseConnection,
                        codestar_connections_actions.UseConnection,
                    ],
                    Resource=[Ref(s.p["ConnectionArn"])],
                ),
                Statement(
                    Sid="RunBuild",
                    Effect=Allow,
                    Action=[codebuild_actions.BatchGetBuilds, codebuild_actions.StartBuild],
                    Resource=[GetAtt(build, "Arn")],
                ),
                Statement(
                    Sid="AskForApproval",
                    Effect=Allow,
                    Action=[sns_actions.Publish],
                    Resource=[Ref(topic)],
                ),
            ],
            policy_name="pipeline",
        )
    )
    attach = _conditional_policy(s.t, role)
    _ecs_deploy_policies(attach, s.p)
    _eks_deploy_policy(attach)
    return role


def _ecs_deploy_policies(attach: Callable[..., iam.ManagedPolicy], p: dict[str, Parameter]) -> None:
    """With an ECS target: roll one service to a new revision, and pass the task definition's roles."""
    ecs_arn = "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}"
    attach(
        "PipelineEcsDeployPolicy",
        IS_ECS,
        "CodePipeline ECS deploy action: register a revision and roll one service to it",
        [
            Statement(
                Sid="RollService",
                Effect=Allow,
                Action=[ecs_actions.DescribeServices, ecs_actions.UpdateService],
                Resource=[Sub(ecs_arn + ":service/${EcsClusterName}/${EcsServiceName}")],
            ),
            Statement(
                Sid="WatchTasks",
                Effect=Allow,
                Action=[ecs_actions.DescribeTasks],
                Resource=[Sub(ecs_arn + ":task/${EcsClusterName}/*")],
            ),
            # ListTasks, DescribeTaskDefinition and RegisterTaskDefinition have no resource-level
            # permissions (Service Authorization Reference, Amazon ECS); ListTasks is held to the
            # cluster by its ecs:cluster condition key.
            Statement(
                Sid="ListClusterTasks",
                Effect=Allow,
                Action=[ecs_actions.ListTasks],
                Resource=["*"],
                Condition=Condition(ArnEquals({"ecs:cluster": Sub(ecs_arn + ":cluster/${EcsClusterName}")})),
            ),
            Statement(
                Sid="TaskDefinitions",
                Effect=Allow,
                Action=[ecs_actions.DescribeTaskDefinition, ecs_actions.RegisterTaskDefinition],
                Resource=["*"],
            ),
            tag_new_task_definitions(Sub(ecs_arn + ":task-definition/${EcsTaskFamily}:*")),
        ],
        Metadata=checkov_skips(
            (
                "CKV_AWS_111",
                "ecs:RegisterTaskDefinition has no resource-level permissions; every other write here "
                "is scoped to the service, task family or task role ARNs",
            )
        ),
    )
    # A task definition without task or execution role passes none: then this policy is left out.
    attach(
        "PipelinePassTaskRolesPolicy",
        PASSES_ROLES,
        "CodePipeline ECS deploy action: hand the task definition's roles to ECS tasks",
        [pass_roles_to_ecs_tasks(Ref(p["TaskRoleArns"]))],
    )


def _eks_deploy_policy(attach: Callable[..., iam.ManagedPolicy]) -> None:
    """With an EKS target: run the kubectl deploy project."""
    attach(
        "PipelineEksDeployPolicy",
        IS_EKS,
        "CodePipeline: run the kubectl deploy project",
        [
            Statement(
                Sid="RunDeploy",
                Effect=Allow,
                Action=[codebuild_actions.BatchGetBuilds, codebuild_actions.StartBuild],
                Resource=[
                    Sub(
                        "arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:project/${PipelineName}-deploy"
                    )
                ],
            )
        ],
    )


def _conditional_policy(t: Template, role: iam.Role) -> Callable[..., iam.ManagedPolicy]:
    """A function adding a managed policy for `role` that exists only under a condition (ECS or EKS)."""

    def attach(title: str, condition: str, description: str, statements: list[Any], **extra: Any) -> Any:
        return t.add_resource(
            iam.ManagedPolicy(
                title,
                Condition=condition,
                Description=description,
                Roles=[Ref(role)],
                PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements),
                **extra,
            )
        )

    return attach


def _action(name: str, category: str, provider: str, configuration: dict[str, Any], **kwargs: Any) -> Any:
    return codepipeline.Actions(
        Name=name,
        ActionTypeId=codepipeline.ActionTypeId(
            Category=category, Owner="AWS", Provider=provider, Version="1"
        ),
        Configuration=configuration,
        RunOrder=1,
        **kwargs,
    )


def _source_action(p: dict[str, Parameter]) -> Any:
    return _action(
        "Source",
        "Source",
        "CodeStarSourceConnection",
        {
            "ConnectionArn": Ref(p["ConnectionArn"]),
            "FullRepositoryId": Ref(p["FullRepositoryId"]),
            "BranchName": Ref(p["BranchName"]),
            "OutputArtifactFormat": "CODE_ZIP",
            "DetectChanges": True,
        },
        Namespace="SourceVariables",
        OutputArtifacts=[codepipeline.OutputArtifacts(Name="Source")],
    )


def _build_action(build: Any) -> Any:
    return _action(
        "BuildAndPush",
        "Build",
        "CodeBuild",
        {
            "ProjectName": Ref(build),
            # CodePipeline hands the commit over as a variable; the buildspec tags the image with it.
            "EnvironmentVariables": json.dumps(
                [{"name": "COMMIT_ID", "value": "#{SourceVariables.CommitId}", "type": "PLAINTEXT"}]
            ),
        },
        Namespace="BuildVariables",
        InputArtifacts=[codepipeline.InputArtifacts(Name="Source")],
        OutputArtifacts=[codepipeline.OutputArtifacts(Name="Build")],
    )


def _approval_action(topic: Any) -> Any:
    image = "#{BuildVariables.IMAGE_URI}:#{BuildVariables.IMAGE_TAG}"
    return _action(
        "Approve",
        "Approval",
        "Manual",
        {
            "NotificationArn": Ref(topic),
            "CustomData": If(
                IS_ECS,
                Sub(f"Deploy {image} to ECS service ${{EcsClusterName}}/${{EcsServiceName}}?"),
                Sub(
                    f"Deploy {image} to EKS cluster ${{EksClusterName}}, namespace ${{KubernetesNamespace}}?"
                ),
            ),
            "ExternalEntityLink": Sub(
                "https://github.com/${FullRepositoryId}/commit/#{SourceVariables.CommitId}"
            ),
        },
    )


def _deploy_action(p: dict[str, Parameter], deploy: Any) -> If:
    """The CodePipeline ECS deploy action, or the kubectl project for EKS, as DeployTarget says."""
    ecs_deploy = _action(
        "DeployToEcs",
        "Deploy",
        "ECS",
        {
            "ClusterName": Ref(p["EcsClusterName"]),
            "ServiceName": Ref(p["EcsServiceName"]),
            "FileName": "imagedefinitions.json",
        },
        InputArtifacts=[codepipeline.InputArtifacts(Name="Build")],
    )
    eks_deploy = _action(
        "DeployToEks",
        "Build",
        "CodeBuild",
        {
            "ProjectName": Ref(deploy),
            "EnvironmentVariables": json.dumps(
                [
                    {"name": "IMAGE_URI", "value": "#{BuildVariables.IMAGE_URI}", "type": "PLAINTEXT"},
                    {"name": "IMAGE_TAG", "value": "#{BuildVariables.IMAGE_TAG}", "type": "PLAINTEXT"},
                ]
            ),
        },
        InputArtifacts=[codepipeline.InputArtifacts(Name="Source")],
    )
    return If(IS_ECS, ecs_deploy, eks_deploy)


def _stages(p: dict[str, Parameter], build: Any, deploy: Any, topic: Any) -> list[codepipeline.Stages]:
    return [
        codepipeline.Stages(Name="Source", Actions=[_source_action(p)]),
        codepipeline.Stages(Name="Build", Actions=[_build_action(build)]),
        codepipeline.Stages(Name="Approve", Actions=[_approval_action(topic)]),
        codepipeline.Stages(Name="Deploy", Actions=[_deploy_action(p, deploy)]),
    ]


def build_template(build_spec: str, deploy_eks_spec: str) -> Template:
    t, project = new_template(
        "Container delivery pipeline: GitHub (CodeConnections) -> CodeBuild build and push to ECR (tag = short "
        "commit) -> manual approval by email -> deploy to ECS (CodePipeline ECS action) or EKS (kubectl in "
        "CodeBuild as a namespace-scoped role).",
        project_default="app",
    )
    p = _parameters(t)
    t.add_condition(IS_ECS, Equals(Ref(p["DeployTarget"]), "ECS"))
    t.add_condition(IS_EKS, Equals(Ref(p["DeployTarget"]), "EKS"))
    t.add_condition(
        PASSES_ROLES, And(CfnCondition(IS_ECS), Not(Equals(Join("", Ref(p["TaskRoleArns"])), "")))
    )

    store = _artifact_store(t, p)
    topic = t.add_resource(
        sns.Topic(
            "ApprovalTopic",
            DisplayName=Sub("${PipelineName} deploy approval"),
            KmsMasterKeyId=GetAtt(store.key, "Arn"),
            Subscription=[sns.Subscription(Protocol="email", Endpoint=Ref(p["ApprovalEmail"]))],
        )
    )
    build = _build_stage(store, build_spec)
    deploy = _eks_deploy(store, deploy_eks_spec)
    role = _pipeline_role(store, build, topic)
    pipeline = t.add_resource(
        codepipeline.Pipeline(
            "Pipeline",
            Name=Ref(p["PipelineName"]),
            RoleArn=GetAtt(role, "Arn"),
            PipelineType="V2",
            # A newer commit replaces one still waiting for approval, so approvers only see the latest.
            ExecutionMode="SUPERSEDED",
            RestartExecutionOnUpdate=False,
            ArtifactStore=codepipeline.ArtifactStore(
                Type="S3",
                Location=Ref(store.bucket),
                EncryptionKey=codepipeline.EncryptionKey(Id=GetAtt(store.key, "Arn"), Type="KMS"),
            ),
            Stages=_stages(p, build, deploy, topic),
        )
    )
    t.add_output(
        [
            Output("PipelineName", Value=Ref(pipeline)),
            Output("ArtifactBucketName", Value=Ref(store.bucket)),
            Output("ApprovalTopicArn", Value=Ref(topic)),
            Output("BuildProjectName", Value=Ref(build)),
            Output("KubectlRoleArn", Condition=IS_EKS, Value=GetAtt("KubectlRole", "Arn")),
        ]
    )
    t.set_metadata(_interface())
    return apply_tags(t, standard_tags(project))


def buildspec(name: str) -> str:
    """A buildspec shipped in the pipeline package (pipeline/buildspecs/), read as package data so a
    render with --root pointing at another organization's repository still finds it."""
    return files("pipeline.apps").joinpath("buildspecs").joinpath(name).read_text("utf-8")


def build(ctx: RenderContext) -> Mapping[str, Template]:
    return {PATH: build_template(buildspec(BUILD_SPEC), buildspec(DEPLOY_EKS_SPEC))}


BLUEPRINT = Blueprint(
    name="container-pipeline",
    description="Container delivery pipeline: GitHub -> build and push to ECR -> approval -> ECS or EKS",
    outputs=(PATH,),
    build=build,
    module=__name__,
)
