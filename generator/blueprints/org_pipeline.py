"""Blueprint: the org roles pipeline: source -> build (render check, lint, tests, plan) -> approval -> sync.

templates/org/pipeline.yaml holds the artifact bucket, CodePipeline (V2) with a GitHub (CodeConnections),
CodeCommit or S3 source chosen by parameter, the CodeBuild project running buildspec.yml, an optional
manual approval with the plan summary, the sync Lambda, notifications on success and failure, and the
watcher that starts the pipeline when accounts move or OUs and accounts are created. Every role is
least privilege: StackSet actions scoped to the prefix, S3 to the bucket, SNS to the topics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import awacs.awslambda as lambda_actions
import awacs.cloudformation as cfn_actions
import awacs.codebuild as cb_actions
import awacs.codecommit as cc_actions
import awacs.codeconnections as conn_actions
import awacs.codepipeline as cp_actions
import awacs.iam as iam_actions
import awacs.kms as kms_actions
import awacs.organizations as org_actions
import awacs.s3 as s3_actions
import awacs.sns as sns_actions
import awacs.xray as xray_actions
from awacs.aws import (
    Allow,
    ArnNotEquals,
    Bool,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import (
    AWS_NO_VALUE,
    Equals,
    GetAtt,
    If,
    Not,
    Output,
    Parameter,
    Ref,
    Sub,
    Template,
    awslambda,
    codebuild,
    codepipeline,
    events,
    iam,
    kms,
    logs,
    s3,
    sns,
)

from generator.blueprints.base import Blueprint, RenderContext, apply_tags, new_template, standard_tags
from generator.blueprints.parts.alerts import email_subscription, topic_policy
from generator.blueprints.parts.buckets import artifact_objects, private_bucket
from generator.blueprints.parts.iam import role_with_policy, service_trust
from generator.blueprints.parts.kms_logs import (
    customer_key,
    encrypted_log_group,
    key_policy,
    log_retention_parameter,
    logs_may_use_key,
    use_key,
    write_logs,
)
from generator.blueprints.parts.lambdas import python_function
from generator.blueprints.parts.metadata import checkov_skips

PATH = "org/pipeline.yaml"
SYNC_LOG_GROUP = "/aws/lambda/${Project}-sync"
BUILD_LOG_GROUP = "/aws/codebuild/${Project}-build"


# The parameters, in template order, with their CloudFormation properties.
PARAMETERS: dict[str, dict[str, Any]] = {
    "SourceProvider": {
        "Type": "String",
        "Default": "GitHub",
        "AllowedValues": ["GitHub", "CodeCommit", "S3"],
        "Description": "Where the repository comes from",
    },
    "ConnectionArn": {
        "Type": "String",
        "AllowedPattern": "^$|^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/.+$",
        "ConstraintDescription": "a CodeConnections connection ARN, or empty for CodeCommit and S3 sources",
        "Description": "CodeConnections (CodeStar) connection ARN for SourceProvider GitHub; empty otherwise",
    },
    "FullRepositoryId": {
        "Type": "String",
        "Default": "",
        "Description": "owner/repository on GitHub, for SourceProvider GitHub",
    },
    "BranchName": {"Type": "String", "Default": "main", "Description": "Branch that runs the pipeline"},
    "CodeCommitRepositoryName": {
        "Type": "String",
        "Default": "org-roles",
        "Description": "Repository name, for SourceProvider CodeCommit",
    },
    "SourceBucket": {
        "Type": "String",
        "Default": "org-roles-source",
        "Description": "Bucket, for SourceProvider S3",
    },
    "SourceObjectKey": {
        "Type": "String",
        "Default": "org-roles.zip",
        "Description": "Zip of the repository, for SourceProvider S3",
    },
    "ApprovalRequired": {
        "Type": "String",
        "Default": "true",
        "AllowedValues": ["true", "false"],
        "Description": "Stop for a manual approval (with the plan) before the sync",
    },
    "ApprovalEmail": {
        "Type": "String",
        "Default": "",
        "Description": "Who is asked to approve (empty: subscribe later)",
    },
    "NotificationEmail": {
        "Type": "String",
        "Default": "",
        "Description": "Who hears of pipeline success and failure",
    },
    "SyncCodeBucket": {
        "Type": "String",
        "Description": "Bucket holding the sync Lambda zip (generator package)",
    },
    "SyncCodeKey": {
        "Type": "String",
        "Default": "org-sync-lambda.zip",
        "Description": "Key of the sync Lambda zip",
    },
    "SyncHandler": {
        "Type": "String",
        "Default": "pipeline.handler.handler",
        "Description": "Handler of the sync Lambda",
    },
    "StackSetPrefix": {
        "Type": "String",
        "Default": "org-roles",
        "AllowedPattern": "^[A-Za-z][A-Za-z0-9-]{0,63}$",
        "Description": "The sync may only touch StackSets and stacks whose names start with this",
    },
    "StackSetAdministrationRoleName": {
        "Type": "String",
        "Default": "AWSCloudFormationStackSetAdministrationRole",
        "Description": "Self-managed StackSets only: the administration role the sync passes",
    },
    "BuildImage": {
        "Type": "String",
        "Default": "aws/codebuild/standard:7.0",
        "Description": "CodeBuild image",
    },
    "ArtifactRetentionDays": {
        "Type": "Number",
        "Default": 30,
        "MinValue": 1,
        "MaxValue": 3650,
        "Description": "Days pipeline artifacts and plans are kept",
    },
}


def _parameters(t: Template) -> dict[str, Parameter]:
    return {name: t.add_parameter(Parameter(name, **spec)) for name, spec in PARAMETERS.items()}


def _conditions(t: Template, p: Mapping[str, Parameter]) -> None:
    t.add_condition("UseGitHub", Equals(Ref(p["SourceProvider"]), "GitHub"))
    t.add_condition("UseCodeCommit", Equals(Ref(p["SourceProvider"]), "CodeCommit"))
    t.add_condition("UseS3Source", Equals(Ref(p["SourceProvider"]), "S3"))
    t.add_condition("ApprovalEnabled", Equals(Ref(p["ApprovalRequired"]), "true"))
    t.add_condition("HasApprovalEmail", Not(Equals(Ref(p["ApprovalEmail"]), "")))
    t.add_condition("HasNotificationEmail", Not(Equals(Ref(p["NotificationEmail"]), "")))


def _bucket(t: Template, p: Mapping[str, Parameter], key: Any) -> s3.Bucket:
    bucket = t.add_resource(
        private_bucket(
            "ArtifactBucket",
            key,
            s3.LifecycleRule(
                Id="ExpireOldArtifacts",
                Status="Enabled",
                ExpirationInDays=Ref(p["ArtifactRetentionDays"]),
                NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                    NoncurrentDays=Ref(p["ArtifactRetentionDays"])
                ),
                AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
            ),
            "pipeline artifacts only: access goes through the pipeline roles and CloudTrail data events if wanted",
        )
    )
    t.add_resource(
        s3.BucketPolicy(
            "ArtifactBucketPolicy",
            Bucket=Ref(bucket),
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    Statement(
                        Sid="TlsOnly",
                        Effect=Deny,
                        Principal=Principal("*"),
                        Action=[s3_actions.Action("*")],
                        Resource=[GetAtt(bucket, "Arn"), Sub("${ArtifactBucket.Arn}/*")],
                        Condition=Condition(Bool({"aws:SecureTransport": "false"})),
                    )
                ],
            ),
        )
    )
    return bucket


def _topic(t: Template, name: str, key: Any, email: Parameter, condition: str, description: str) -> sns.Topic:
    topic = t.add_resource(sns.Topic(name, DisplayName=description, KmsMasterKeyId=GetAtt(key, "Arn")))
    t.add_resource(email_subscription(f"{name}Email", topic, email, condition))
    return topic


def _role(t: Template, name: str, service: str, statements: list[Statement], description: str) -> iam.Role:
    """A role `service` assumes, with its one inline policy named <name>Permissions."""
    return t.add_resource(
        role_with_policy(
            name, description, service_trust(service), statements, policy_name=f"{name}Permissions"
        )
    )


def stackset_arns() -> list[Any]:
    """The StackSets (and their targets and types) the sync may manage: only those with our prefix."""
    return [
        Sub("arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stackset/${StackSetPrefix}-*:*"),
        Sub(
            "arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stackset-target/${StackSetPrefix}-*:*/*"
        ),
        Sub("arn:${AWS::Partition}:cloudformation:*::type/resource/AWS-IAM-*"),
    ]


# What the sync Lambda calls, by API. Kept in one list so the least-privilege test can compare it
# with the calls the sync really makes in the end-to-end tests.
SYNC_ORGANIZATIONS_ACTIONS = (
    "organizations:DescribeOrganization",
    "organizations:ListRoots",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListAccountsForParent",
)
SYNC_STACKSET_ACTIONS = (
    "cloudformation:CreateStackSet",
    "cloudformation:UpdateStackSet",
    "cloudformation:DeleteStackSet",
    "cloudformation:DescribeStackSet",
    "cloudformation:DescribeStackSetOperation",
    "cloudformation:ListStackSetOperations",
    "cloudformation:ListStackSetOperationResults",
    "cloudformation:ListStackInstances",
    "cloudformation:CreateStackInstances",
    "cloudformation:UpdateStackInstances",
    "cloudformation:DeleteStackInstances",
)
SYNC_STACK_ACTIONS = (
    "cloudformation:DescribeStacks",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
)


def _action(name: str) -> Any:
    service, action = name.split(":")
    module = {
        "organizations": org_actions,
        "cloudformation": cfn_actions,
    }[service]
    return module.Action(action)


def _read_organization(sid: str) -> Statement:
    """Read the OU tree: the sync maps it onto StackSets, and the build's plan reads it the same way."""
    return Statement(
        Sid=sid, Effect=Allow, Action=[_action(a) for a in SYNC_ORGANIZATIONS_ACTIONS], Resource=["*"]
    )


def _use_connection(sid: str, p: Mapping[str, Parameter]) -> Statement:
    """Use the GitHub connection (the pipeline's source action and the build's git clone); with another
    source provider, a connection ARN that names none, so the statement grants nothing."""
    return Statement(
        Sid=sid,
        Effect=Allow,
        Action=[conn_actions.UseConnection],
        Resource=[
            If(
                "UseGitHub",
                Ref(p["ConnectionArn"]),
                Sub("arn:${AWS::Partition}:codeconnections:${AWS::Region}:${AWS::AccountId}:connection/none"),
            )
        ],
    )


@dataclass(frozen=True)
class _Stack:
    """What the resource groups of the pipeline template share: the template, its parameters, the key
    that encrypts everything and the artifact bucket."""

    t: Template
    p: Mapping[str, Parameter]
    key: kms.Key
    bucket: s3.Bucket


@dataclass(frozen=True)
class _Topics:
    approval: sns.Topic
    notification: sns.Topic


def _key(t: Template) -> kms.Key:
    return t.add_resource(
        customer_key(
            "PipelineKey",
            "Encrypts the org pipeline's artifacts, topics and logs",
            [
                logs_may_use_key(),
                Statement(
                    Sid="EventsAndSnsPublish",
                    Effect=Allow,
                    Principal=Principal(
                        "Service", ["events.amazonaws.com", "codestar-notifications.amazonaws.com"]
                    ),
                    Action=[kms_actions.Decrypt, kms_actions.Action("GenerateDataKey*")],
                    Resource=["*"],
                    Condition=Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})),
                ),
            ],
        )
    )


def _topics(s: _Stack) -> _Topics:
    """The approval topic, and the notification topic EventBridge publishes pipeline results to."""
    t, p, key = s.t, s.p, s.key
    approval_topic = _topic(
        t, "ApprovalTopic", key, p["ApprovalEmail"], "HasApprovalEmail", "Org roles: approve the plan"
    )
    notify_topic = _topic(
        t,
        "NotificationTopic",
        key,
        p["NotificationEmail"],
        "HasNotificationEmail",
        "Org roles: pipeline results",
    )
    t.add_resource(
        topic_policy(
            notify_topic,
            [
                Statement(
                    Sid="EventBridgePublishes",
                    Effect=Allow,
                    Principal=Principal("Service", ["events.amazonaws.com"]),
                    Action=[sns_actions.Publish],
                    Resource=[Ref(notify_topic)],
                    Condition=Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})),
                )
            ],
        )
    )
    return _Topics(approval=approval_topic, notification=notify_topic)


def _sync_statements(s: _Stack, sync_logs: logs.LogGroup, notify_topic: sns.Topic) -> list[Statement]:
    """What the sync Lambda may do: read the OU tree, manage the prefixed StackSets, report to CodePipeline."""
    bucket_objects = Sub("${ArtifactBucket.Arn}/*")
    return [
        write_logs(sync_logs),
        use_key(s.key),
        _read_organization("ReadOrganization"),
        Statement(
            Sid="ManageOurStackSets",
            Effect=Allow,
            Action=[_action(a) for a in SYNC_STACKSET_ACTIONS],
            Resource=stackset_arns(),
        ),
        Statement(Sid="ListStackSets", Effect=Allow, Action=[cfn_actions.ListStackSets], Resource=["*"]),
        Statement(
            Sid="ManagementAccountStack",
            Effect=Allow,
            Action=[_action(a) for a in SYNC_STACK_ACTIONS],
            Resource=[
                Sub("arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/${StackSetPrefix}-*/*")
            ],
        ),
        Statement(
            Sid="PassStackSetAdministrationRole",
            Effect=Allow,
            Action=[iam_actions.PassRole],
            Resource=[
                Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${StackSetAdministrationRoleName}")
            ],
            Condition=Condition(StringEquals({"iam:PassedToService": "cloudformation.amazonaws.com"})),
        ),
        # Direct invocations read the build artifact themselves (CodePipeline jobs bring credentials).
        Statement(
            Sid="ReadArtifacts", Effect=Allow, Action=[s3_actions.GetObject], Resource=[bucket_objects]
        ),
        # A direct sync that outlives one invocation continues in a fresh one of itself.
        Statement(
            Sid="ContinueItself",
            Effect=Allow,
            Action=[lambda_actions.InvokeFunction],
            Resource=[
                Sub("arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${Project}-sync")
            ],
        ),
        # PutJobSuccessResult/PutJobFailureResult have no resource-level permissions
        # (Service Authorization Reference, AWS CodePipeline).
        Statement(
            Sid="ReportJob",
            Effect=Allow,
            Action=[cp_actions.PutJobSuccessResult, cp_actions.PutJobFailureResult],
            Resource=["*"],
        ),
        Statement(Sid="Notify", Effect=Allow, Action=[sns_actions.Publish], Resource=[Ref(notify_topic)]),
        # Active tracing: the Lambda runtime sends traces; X-Ray has no resource-level permissions.
        Statement(
            Sid="Tracing",
            Effect=Allow,
            Action=[xray_actions.PutTraceSegments, xray_actions.PutTelemetryRecords],
            Resource=["*"],
        ),
    ]


MAC_ACTIONS = [kms_actions.Action("GenerateMac"), kms_actions.Action("VerifyMac")]


def _token_key(t: Template, sync_role: iam.Role) -> kms.Key:
    """The HMAC key that seals the sync's continuation tokens: only the sync's role may make or check a MAC.

    An HMAC key never leaves KMS (https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html), so
    neither someone who can push to the repository nor someone who can answer for CodePipeline can forge a
    token. The key policy grants the role GenerateMac and VerifyMac (which need the key policy:
    https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html) and denies them to every other
    principal, so no IAM policy in the account can grant them either.
    """
    role_arn = GetAtt(sync_role, "Arn")
    key = t.add_resource(
        kms.Key(
            "TokenKey",
            Description="Seals the org sync's continuation tokens (HMAC-SHA-256)",
            # HMAC keys do not support automatic rotation (Rotating AWS KMS keys, KMS Developer Guide);
            # a token lives minutes, so replacing the key is a redeploy, not a migration.
            PendingWindowInDays=7,
            # Nothing lasting is sealed with it (a token lives for one pipeline run), so it goes with the stack.
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
            KeyPolicy=key_policy(
                [
                    Statement(
                        Sid="SyncSealsTokens",
                        Effect=Allow,
                        Principal=Principal("AWS", [role_arn]),
                        Action=MAC_ACTIONS,
                        Resource=["*"],
                    ),
                    Statement(
                        Sid="NobodyElseSealsTokens",
                        Effect=Deny,
                        Principal=Principal("AWS", ["*"]),
                        Action=MAC_ACTIONS,
                        Resource=["*"],
                        Condition=Condition(ArnNotEquals({"aws:PrincipalArn": role_arn})),
                    ),
                ]
            ),
            Metadata=checkov_skips(
                ("CKV_AWS_7", "an HMAC key: KMS does not rotate HMAC keys automatically"),
            ),
        )
    )
    # troposphere's validators predate HMAC keys; CloudFormation takes both values (AWS::KMS::Key, KeySpec
    # and KeyUsage: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-kms-key.html).
    key.properties.update(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    return key


def _sync(s: _Stack, retention: Parameter, notify_topic: sns.Topic) -> awslambda.Function:
    """The sync Lambda, its log group and its role."""
    t, p, key = s.t, s.p, s.key
    sync_logs = t.add_resource(encrypted_log_group("SyncLogs", Sub(SYNC_LOG_GROUP), key, retention))
    sync_role = _role(
        t,
        "SyncRole",
        "lambda.amazonaws.com",
        _sync_statements(s, sync_logs, notify_topic),
        "The org sync Lambda: reads the OU tree, manages the prefixed StackSets, reports to CodePipeline",
    )
    token_key = _token_key(t, sync_role)
    return t.add_resource(
        python_function(
            "SyncFunction",
            "Maps the live OU tree onto the org role StackSets",
            handler=Ref(p["SyncHandler"]),
            code=awslambda.Code(S3Bucket=Ref(p["SyncCodeBucket"]), S3Key=Ref(p["SyncCodeKey"])),
            role=sync_role,
            log_group=sync_logs,
            variables={
                "NOTIFICATION_TOPIC_ARN": Ref(notify_topic),
                "STACKSET_PREFIX": Ref(p["StackSetPrefix"]),
                "TOKEN_KEY_ID": GetAtt(token_key, "Arn"),
            },
            FunctionName=Sub("${Project}-sync"),
            Timeout=300,
            MemorySize=512,
            # One sync at a time: a second pipeline run waits instead of racing the first.
            ReservedConcurrentExecutions=1,
            KmsKeyArn=GetAtt(key, "Arn"),
            TracingConfig=awslambda.TracingConfig(Mode="Active"),
            Metadata=checkov_skips(
                (
                    "CKV_AWS_116",
                    "invoked synchronously by CodePipeline, which records and retries failures; a DLQ would never receive anything",
                ),
                (
                    "CKV_AWS_117",
                    "calls only AWS APIs; a VPC would add NAT cost and no isolation for this function",
                ),
            ),
        )
    )


def _build_statements(s: _Stack, build_logs: logs.LogGroup) -> list[Statement]:
    """What the build may do: its logs and artifacts, and the reads the review plan makes."""
    return [
        write_logs(build_logs),
        use_key(s.key),
        artifact_objects(s.bucket, write=True),
        _read_organization("PlanReadsOrganization"),
        Statement(
            Sid="PlanReadsStackSets",
            Effect=Allow,
            Action=[
                cfn_actions.DescribeStackSet,
                # The operation named in a hash tag: did the rollout that wrote it succeed?
                cfn_actions.DescribeStackSetOperation,
                cfn_actions.ListStackInstances,
            ],
            Resource=stackset_arns(),
        ),
        Statement(Sid="PlanListsStackSets", Effect=Allow, Action=[cfn_actions.ListStackSets], Resource=["*"]),
        Statement(
            Sid="PlanReadsManagementStack",
            Effect=Allow,
            Action=[cfn_actions.DescribeStacks],
            Resource=[
                Sub("arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/${StackSetPrefix}-*/*")
            ],
        ),
        Statement(
            Sid="Reports",
            Effect=Allow,
            Action=[
                cb_actions.CreateReportGroup,
                cb_actions.CreateReport,
                cb_actions.UpdateReport,
                cb_actions.BatchPutTestCases,
            ],
            Resource=[
                Sub(
                    "arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:report-group/${Project}-build-*"
                )
            ],
        ),
        _use_connection("UseConnectionForGitClone", s.p),
    ]


def _build(s: _Stack, retention: Parameter) -> codebuild.Project:
    """The CodeBuild project (render check, lint, tests, plan), its log group and its role."""
    t, p, key = s.t, s.p, s.key
    build_logs = t.add_resource(encrypted_log_group("BuildLogs", Sub(BUILD_LOG_GROUP), key, retention))
    build_role = _role(
        t,
        "BuildRole",
        "codebuild.amazonaws.com",
        _build_statements(s, build_logs),
        "The org pipeline build: render check, lint, tests and the plan",
    )
    return t.add_resource(
        codebuild.Project(
            "Build",
            Name=Sub("${Project}-build"),
            Description="Render check, lint, tests and the review plan for the org roles",
            ServiceRole=GetAtt(build_role, "Arn"),
            EncryptionKey=GetAtt(key, "Arn"),
            Source=codebuild.Source(Type="CODEPIPELINE", BuildSpec="buildspec.yml"),
            Artifacts=codebuild.Artifacts(Type="CODEPIPELINE"),
            Environment=codebuild.Environment(
                ComputeType="BUILD_GENERAL1_MEDIUM",
                Image=Ref(p["BuildImage"]),
                Type="LINUX_CONTAINER",
                EnvironmentVariables=[
                    codebuild.EnvironmentVariable(Name="ARTIFACT_BUCKET", Value=Ref(s.bucket)),
                    codebuild.EnvironmentVariable(Name="STACKSET_PREFIX", Value=Ref(p["StackSetPrefix"])),
                ],
            ),
            LogsConfig=codebuild.LogsConfig(
                CloudWatchLogs=codebuild.CloudWatchLogs(Status="ENABLED", GroupName=Ref(build_logs))
            ),
            TimeoutInMinutes=60,
        )
    )


def _source_stage(p: Mapping[str, Parameter]) -> codepipeline.Stages:
    """The source action: GitHub (CodeConnections), CodeCommit or S3, as SourceProvider says."""
    return codepipeline.Stages(
        Name="Source",
        Actions=[
            codepipeline.Actions(
                Name="Source",
                Namespace="SourceVariables",
                ActionTypeId=If(
                    "UseGitHub",
                    codepipeline.ActionTypeId(
                        Category="Source",
                        Owner="AWS",
                        Provider="CodeStarSourceConnection",
                        Version="1",
                    ),
                    If(
                        "UseCodeCommit",
                        codepipeline.ActionTypeId(
                            Category="Source", Owner="AWS", Provider="CodeCommit", Version="1"
                        ),
                        codepipeline.ActionTypeId(Category="Source", Owner="AWS", Provider="S3", Version="1"),
                    ),
                ),
                Configuration=If(
                    "UseGitHub",
                    {
                        "ConnectionArn": Ref(p["ConnectionArn"]),
                        "FullRepositoryId": Ref(p["FullRepositoryId"]),
                        "BranchName": Ref(p["BranchName"]),
                        # A full clone, so the build can diff against the previous commit.
                        "OutputArtifactFormat": "CODEBUILD_CLONE_REF",
                        "DetectChanges": "true",
                    },
                    If(
                        "UseCodeCommit",
                        {
                            "RepositoryName": Ref(p["CodeCommitRepositoryName"]),
                            "BranchName": Ref(p["BranchName"]),
                            "OutputArtifactFormat": "CODEBUILD_CLONE_REF",
                            "PollForSourceChanges": "false",
                        },
                        {
                            "S3Bucket": Ref(p["SourceBucket"]),
                            "S3ObjectKey": Ref(p["SourceObjectKey"]),
                            "PollForSourceChanges": "false",
                        },
                    ),
                ),
                OutputArtifacts=[codepipeline.OutputArtifacts(Name="Source")],
                RunOrder=1,
            )
        ],
    )


def _build_stage(project_build: codebuild.Project) -> codepipeline.Stages:
    return codepipeline.Stages(
        Name="Build",
        Actions=[
            codepipeline.Actions(
                Name="RenderLintTestPlan",
                Namespace="BuildVariables",
                ActionTypeId=codepipeline.ActionTypeId(
                    Category="Build", Owner="AWS", Provider="CodeBuild", Version="1"
                ),
                Configuration={"ProjectName": Ref(project_build)},
                InputArtifacts=[codepipeline.InputArtifacts(Name="Source")],
                OutputArtifacts=[codepipeline.OutputArtifacts(Name="Build")],
                RunOrder=1,
            )
        ],
    )


def _approval_stage(approval_topic: sns.Topic) -> If:
    """The manual approval with the plan summary, only when ApprovalRequired is true."""
    return If(
        "ApprovalEnabled",
        codepipeline.Stages(
            Name="Approve",
            Actions=[
                codepipeline.Actions(
                    Name="ReviewPlan",
                    ActionTypeId=codepipeline.ActionTypeId(
                        Category="Approval", Owner="AWS", Provider="Manual", Version="1"
                    ),
                    Configuration={
                        "NotificationArn": Ref(approval_topic),
                        "CustomData": "#{BuildVariables.PLAN_SUMMARY}",
                        "ExternalEntityLink": "#{BuildVariables.PLAN_URL}",
                    },
                    RunOrder=1,
                )
            ],
        ),
        Ref(AWS_NO_VALUE),
    )


def _sync_stage(sync: awslambda.Function) -> codepipeline.Stages:
    return codepipeline.Stages(
        Name="Sync",
        Actions=[
            codepipeline.Actions(
                Name="SyncStackSets",
                ActionTypeId=codepipeline.ActionTypeId(
                    Category="Invoke", Owner="AWS", Provider="Lambda", Version="1"
                ),
                Configuration={"FunctionName": Ref(sync)},
                InputArtifacts=[codepipeline.InputArtifacts(Name="Build")],
                RunOrder=1,
            )
        ],
    )


def _pipeline_statements(
    s: _Stack, project_build: codebuild.Project, sync: awslambda.Function, approval_topic: sns.Topic
) -> list[Statement]:
    """What CodePipeline may do: artifacts, the source it is configured for, the build, the sync, approval."""
    bucket, bucket_objects = s.bucket, Sub("${ArtifactBucket.Arn}/*")
    return [
        use_key(s.key),
        Statement(
            Sid="Artifacts",
            Effect=Allow,
            Action=[
                s3_actions.GetObject,
                s3_actions.GetObjectVersion,
                s3_actions.PutObject,
                s3_actions.GetBucketVersioning,
            ],
            Resource=[GetAtt(bucket, "Arn"), bucket_objects],
        ),
        Statement(
            Sid="S3Source",
            Effect=Allow,
            Action=[s3_actions.GetObject, s3_actions.GetObjectVersion, s3_actions.GetBucketVersioning],
            Resource=[
                If("UseS3Source", Sub("arn:${AWS::Partition}:s3:::${SourceBucket}"), GetAtt(bucket, "Arn")),
                If(
                    "UseS3Source",
                    Sub("arn:${AWS::Partition}:s3:::${SourceBucket}/${SourceObjectKey}"),
                    bucket_objects,
                ),
            ],
        ),
        Statement(
            Sid="Build",
            Effect=Allow,
            Action=[cb_actions.StartBuild, cb_actions.BatchGetBuilds],
            Resource=[GetAtt(project_build, "Arn")],
        ),
        Statement(
            Sid="Sync", Effect=Allow, Action=[lambda_actions.InvokeFunction], Resource=[GetAtt(sync, "Arn")]
        ),
        Statement(Sid="Approval", Effect=Allow, Action=[sns_actions.Publish], Resource=[Ref(approval_topic)]),
        _use_connection("GitHubSource", s.p),
        Statement(
            Sid="CodeCommitSource",
            Effect=Allow,
            Action=[
                cc_actions.GetBranch,
                cc_actions.GetCommit,
                cc_actions.GetRepository,
                cc_actions.UploadArchive,
                cc_actions.GetUploadArchiveStatus,
            ],
            Resource=[
                Sub(
                    "arn:${AWS::Partition}:codecommit:${AWS::Region}:${AWS::AccountId}:${CodeCommitRepositoryName}"
                )
            ],
        ),
    ]


def _pipeline(
    s: _Stack, project_build: codebuild.Project, sync: awslambda.Function, approval_topic: sns.Topic
) -> codepipeline.Pipeline:
    """The pipeline (source, build, optional approval, sync) and the role it runs as."""
    role = _role(
        s.t,
        "PipelineRole",
        "codepipeline.amazonaws.com",
        _pipeline_statements(s, project_build, sync, approval_topic),
        "CodePipeline for the org roles",
    )
    return s.t.add_resource(
        codepipeline.Pipeline(
            "Pipeline",
            Name=Sub("${Project}-pipeline"),
            PipelineType="V2",
            ExecutionMode="QUEUED",
            RoleArn=GetAtt(role, "Arn"),
            ArtifactStore=codepipeline.ArtifactStore(
                Type="S3",
                Location=Ref(s.bucket),
                EncryptionKey=codepipeline.EncryptionKey(Type="KMS", Id=GetAtt(s.key, "Arn")),
            ),
            Stages=[
                _source_stage(s.p),
                _build_stage(project_build),
                _approval_stage(approval_topic),
                _sync_stage(sync),
            ],
        )
    )


def _result_rule(t: Template, pipeline: codepipeline.Pipeline, notify_topic: sns.Topic) -> None:
    """Tell the notification topic when the pipeline succeeds or fails."""
    t.add_resource(
        events.Rule(
            "PipelineResultRule",
            Description="Pipeline succeeded or failed: tell the notification topic",
            EventPattern={
                "source": ["aws.codepipeline"],
                "detail-type": ["CodePipeline Pipeline Execution State Change"],
                "detail": {"pipeline": [Ref(pipeline)], "state": ["SUCCEEDED", "FAILED"]},
            },
            Targets=[
                events.Target(
                    Id="Notify",
                    Arn=Ref(notify_topic),
                    InputTransformer=events.InputTransformer(
                        InputPathsMap={
                            "pipeline": "$.detail.pipeline",
                            "state": "$.detail.state",
                            "id": "$.detail.execution-id",
                        },
                        InputTemplate='"Pipeline <pipeline> <state> (execution <id>)"',
                    ),
                )
            ],
        )
    )


def _watcher(t: Template) -> None:
    """Start the pipeline when accounts move or OUs and accounts are created."""
    pipeline_arn = Sub("arn:${AWS::Partition}:codepipeline:${AWS::Region}:${AWS::AccountId}:${Pipeline}")
    events_role = _role(
        t,
        "WatcherRole",
        "events.amazonaws.com",
        [
            Statement(
                Sid="StartPipeline",
                Effect=Allow,
                Action=[cp_actions.StartPipelineExecution],
                Resource=[pipeline_arn],
            )
        ],
        "EventBridge starts the org pipeline when the organization changes",
    )
    # Organizations is a global service: its CloudTrail events reach EventBridge in us-east-1 only
    # (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_integrate_services.html,
    # "EventBridge"), so deploy this stack in us-east-1 for the watcher to fire.
    t.add_resource(
        events.Rule(
            "OrganizationWatcherRule",
            Description="An account moved, or an OU or account was created: run the pipeline to converge",
            EventPattern={
                "source": ["aws.organizations"],
                "detail-type": ["AWS API Call via CloudTrail", "AWS Service Event via CloudTrail"],
                "detail": {"eventName": ["MoveAccount", "CreateOrganizationalUnit", "CreateAccountResult"]},
            },
            Targets=[events.Target(Id="StartPipeline", Arn=pipeline_arn, RoleArn=GetAtt(events_role, "Arn"))],
        )
    )


def build_template() -> Template:
    t, project = new_template(
        "Org roles pipeline: GitHub/CodeCommit/S3 source, CodeBuild (render check, lint, tests, plan), "
        "optional manual approval, sync Lambda onto StackSets, notifications, and the account-move watcher",
        project_default="org-roles",
    )
    p = _parameters(t)
    _conditions(t, p)
    retention = log_retention_parameter(t)
    key = _key(t)
    s = _Stack(t=t, p=p, key=key, bucket=_bucket(t, p, key))
    topics = _topics(s)
    sync = _sync(s, retention, topics.notification)
    pipeline = _pipeline(s, _build(s, retention), sync, topics.approval)
    _result_rule(t, pipeline, topics.notification)
    _watcher(t)
    t.add_output(
        [
            Output("PipelineName", Value=Ref(pipeline)),
            Output("ArtifactBucketName", Value=Ref(s.bucket)),
            Output("ApprovalTopicArn", Value=Ref(topics.approval)),
            Output("NotificationTopicArn", Value=Ref(topics.notification)),
            Output("SyncFunctionArn", Value=GetAtt(sync, "Arn")),
        ]
    )
    return apply_tags(t, standard_tags(project))


def build(ctx: RenderContext) -> Mapping[str, Template]:
    return {PATH: build_template()}


BLUEPRINT = Blueprint(
    name="org-pipeline",
    description="The org roles pipeline: source, build and plan, approval, sync Lambda, notifications, watcher",
    outputs=(PATH,),
    build=build,
    module=__name__,
)
