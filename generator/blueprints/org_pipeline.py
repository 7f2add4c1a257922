"""Blueprint: the org roles pipeline: source -> build (render check, lint, tests, plan) -> approval -> sync.

templates/org/pipeline.yaml holds the artifact bucket, CodePipeline (V2) with a GitHub (CodeConnections),
CodeCommit or S3 source chosen by parameter, the CodeBuild project with its buildspec embedded (never read
from the repository), the Plan action (the packaged sync plans the exact artifact and checks the org
guardrails), an optional manual approval carrying the plan and the artifact's sha256, the sync Lambda (which
runs that artifact only), notifications on success and failure, and the watcher that starts the pipeline
when accounts move or OUs and accounts are created. Every role is least privilege: StackSet actions scoped
to the prefix, S3 to the bucket, SNS to the topics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import awacs.awslambda as lambda_actions
import awacs.cloudformation as cfn_actions
import awacs.codebuild as cb_actions
import awacs.codecommit as cc_actions
import awacs.codeconnections as conn_actions
import awacs.codepipeline as cp_actions
import awacs.codestar_connections as codestar_conn_actions
import awacs.events as events_actions
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
    StringEqualsIfExists,
)
from troposphere import (
    AWS_NO_VALUE,
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
from generator.blueprints.parts.alerts import email_subscription, events_publish, topic_policy
from generator.blueprints.parts.break_glass_alarm import add_central_alarm
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
from generator.blueprints.parts.lambdas import invoked_by_rule, python_function
from generator.blueprints.parts.management_deployer import pass_deployer_role
from generator.blueprints.parts.metadata import checkov_skips
from pipeline.core import limits
from pipeline.core.runstate import ORG_EVENTS

PATH = "org/pipeline.yaml"
FORWARDER_PATH = "org/management-events.yaml"
SYNC_LOG_GROUP = "/aws/lambda/${Project}-sync"
ORG_EVENTS_LOG_GROUP = "/aws/lambda/${Project}-org-events"
BUILD_LOG_GROUP = "/aws/codebuild/${Project}-build"


# The pipeline's name: the sync Lambda's PIPELINE_NAME too (a Ref to the pipeline would be a cycle, since the
# pipeline invokes the Lambda).
PIPELINE_NAME = "${Project}-pipeline"
# EventBridge schedule expressions: rate(value unit), "If the value is equal to 1, then the unit must be
# singular. If the value is greater than 1, the unit must be plural" (Rate expressions reference,
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html), or cron(six fields),
# in UTC (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html).
SCHEDULE_PATTERN = (
    r"^(rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)|cron\(\S+( \S+){5}\))$"
)
# What the drift schedule sends the sync Lambda (pipeline.job.classify: "drift").
DRIFT_INPUT = json.dumps({"action": "drift"}, sort_keys=True)


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
    "CallAs": {
        "Type": "String",
        "Default": "SELF",
        "AllowedValues": ["SELF", "DELEGATED_ADMIN"],
        "Description": "org.yaml call_as: SELF in the management account, DELEGATED_ADMIN in a delegated "
        "administrator account",
    },
    "ManagementAccountId": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "^$|^[0-9]{12}$",
        "Description": "CallAs DELEGATED_ADMIN only: the management account, where the StackSets live and "
        "where Organizations events are delivered",
    },
    "BuildImage": {
        "Type": "String",
        "Default": "aws/codebuild/standard:7.0",
        "Description": "CodeBuild image",
    },
    "DriftCheckEnabled": {
        "Type": "String",
        "Default": "true",
        "AllowedValues": ["true", "false"],
        "Description": "Run drift detection on the approved roles on DriftCheckSchedule, and tell the "
        "notification topic when any role drifted",
    },
    "DriftCheckSchedule": {
        "Type": "String",
        "Default": "rate(1 day)",
        "AllowedPattern": SCHEDULE_PATTERN,
        "ConstraintDescription": "an EventBridge schedule expression: rate(N minutes|hours|days) or cron(...)",
        "Description": "When the drift check runs (an EventBridge schedule expression, UTC)",
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
    return {name: t.add_parameter(Parameter(name, **spec)) for name, spec in {**PARAMETERS, **TRUST}.items()}


def _conditions(t: Template, p: Mapping[str, Parameter]) -> None:
    t.add_condition("UseGitHub", Equals(Ref(p["SourceProvider"]), "GitHub"))
    t.add_condition("UseCodeCommit", Equals(Ref(p["SourceProvider"]), "CodeCommit"))
    t.add_condition("UseS3Source", Equals(Ref(p["SourceProvider"]), "S3"))
    t.add_condition("ApprovalEnabled", Equals(Ref(p["ApprovalRequired"]), "true"))
    t.add_condition("HasApprovalEmail", Not(Equals(Ref(p["ApprovalEmail"]), "")))
    t.add_condition("HasNotificationEmail", Not(Equals(Ref(p["NotificationEmail"]), "")))
    t.add_condition(DRIFT_CHECK, Equals(Ref(p["DriftCheckEnabled"]), "true"))


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
                    ),
                    _plans_written_by_the_sync_only(),
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


DELEGATED_ADMIN = "DelegatedAdmin"
DRIFT_CHECK = "DriftCheckOn"


def _delegated_admin(t: Template, p: Mapping[str, Parameter]) -> None:
    """CallAs DELEGATED_ADMIN: a condition, and a rule that the management account is then named."""
    t.add_condition(DELEGATED_ADMIN, Equals(Ref(p["CallAs"]), "DELEGATED_ADMIN"))
    t.add_rule(
        "ManagementAccountForDelegatedAdmin",
        {
            "RuleCondition": Equals(Ref(p["CallAs"]), "DELEGATED_ADMIN"),
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref(p["ManagementAccountId"]), "")),
                    "AssertDescription": "CallAs DELEGATED_ADMIN needs ManagementAccountId",
                }
            ],
        },
    )


def stackset_account() -> Any:
    """The account the StackSets live in: service-managed StackSets are created in the management
    account, also those a delegated administrator creates ("StackSets with service-managed permissions
    are created in the management account, including StackSets that are created by delegated
    administrators", https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html,
    CallAs), so their ARNs carry its id, not the pipeline account's."""
    return If(DELEGATED_ADMIN, Ref("ManagementAccountId"), Ref("AWS::AccountId"))


def stackset_arns() -> list[Any]:
    """The StackSets (and their targets and types) the sync may manage: only those with our prefix.

    ARN formats as the Service Authorization Reference lists them ("Actions, resources, and condition keys
    for AWS CloudFormation", https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html):
    stackset ${StackSetName}:${Id}, stackset-target ${StackSetTarget} (name:id/target). The resource
    type ARN carries the account field as AWS's own managed policies write it, `*`
    (arn:aws:cloudformation:*:*:type/resource/*, AmazonSSMServiceRolePolicy,
    https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonSSMServiceRolePolicy.html):
    public AWS types carry no account of ours, and `*` also matches an empty field.
    """
    account = {"StackSetAccount": stackset_account()}
    return [
        Sub(
            "arn:${AWS::Partition}:cloudformation:*:${StackSetAccount}:stackset/${StackSetPrefix}-*:*",
            account,
        ),
        Sub(
            "arn:${AWS::Partition}:cloudformation:*:${StackSetAccount}:stackset-target/${StackSetPrefix}-*:*",
            account,
        ),
        Sub("arn:${AWS::Partition}:cloudformation:*:*:type/resource/AWS-IAM-*"),
    ]


def _delegated_admin_check() -> Statement:
    """As a delegated administrator, CloudFormation checks the caller's registration with Organizations
    on its behalf: the caller needs organizations:ListDelegatedAdministrators (without it: "ValidationError:
    Account used is not a delegated administrator"), which has no resource-level permissions
    ("Register a delegated administrator",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-delegated-admin.html;
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsorganizations.html).
    Granted in both modes (a policy document cannot hold a conditional statement): it reads only which
    accounts administer which services."""
    return Statement(
        Sid="CheckDelegatedAdministrator",
        Effect=Allow,
        Action=[org_actions.ListDelegatedAdministrators],
        Resource=["*"],
    )


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
    # The drift check (pipeline/aws/drift.py); both take a StackSet ARN (Service Authorization Reference,
    # AWS CloudFormation: https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html).
    "cloudformation:DetectStackSetDrift",
    "cloudformation:ListStackInstanceResourceDrifts",
)
SYNC_STACK_ACTIONS = (
    "cloudformation:DescribeStacks",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    # The drift check of the management-account stack (pipeline/aws/drift.py, detect_stack).
    "cloudformation:DetectStackDrift",
    "cloudformation:DescribeStackResourceDrifts",
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


def _use_connection(sid: str, p: Mapping[str, Parameter]) -> list[Statement]:
    """Use the GitHub connection (the pipeline's source action and the build's git clone) for the one
    repository, and for branch requests the one branch; with another source provider, a connection ARN
    that names none, so the statements grant nothing.

    AWS authorizes UseConnection under both service prefixes, codestar-connections (connections made
    before the rename) and codeconnections, each with its own condition keys FullRepositoryId and
    BranchName ("Actions, resources, and condition keys for AWS CodeStar Connections",
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodestarconnections.html;
    "... for AWS CodeConnections",
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodeconnections.html),
    so one statement per prefix: a key of the other prefix would be absent and never match. BranchName
    is present only on requests for a branch, hence IfExists; the repository must always match.
    """
    connection = If(
        "UseGitHub",
        Ref(p["ConnectionArn"]),
        Sub("arn:${AWS::Partition}:codeconnections:${AWS::Region}:${AWS::AccountId}:connection/none"),
    )
    out = []
    for prefix, action, suffix in (
        ("codestar-connections", codestar_conn_actions.UseConnection, "CodeStar"),
        ("codeconnections", conn_actions.UseConnection, ""),
    ):
        out.append(
            Statement(
                Sid=f"{sid}{suffix}",
                Effect=Allow,
                Action=[action],
                Resource=[connection],
                Condition=Condition(
                    [
                        StringEquals({f"{prefix}:FullRepositoryId": Ref(p["FullRepositoryId"])}),
                        StringEqualsIfExists({f"{prefix}:BranchName": Ref(p["BranchName"])}),
                    ]
                ),
            )
        )
    return out


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
            [events_publish(notify_topic)],
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
        _delegated_admin_check(),
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
        # A detection is named by its id, not by a stack: DescribeStackDriftDetectionStatus has no resource
        # type (Service Authorization Reference, AWS CloudFormation).
        Statement(
            Sid="StackDriftStatus",
            Effect=Allow,
            Action=[cfn_actions.DescribeStackDriftDetectionStatus],
            Resource=["*"],
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
        pass_deployer_role(),
        # A direct plan reads the build artifact itself (CodePipeline jobs bring credentials).
        Statement(
            Sid="ReadArtifacts", Effect=Allow, Action=[s3_actions.GetObject], Resource=[bucket_objects]
        ),
        _write_plans(),
        _list_artifacts(),
        # PutJobSuccessResult/PutJobFailureResult have no resource-level permissions
        # (Service Authorization Reference, AWS CodePipeline).
        Statement(
            Sid="ReportJob",
            Effect=Allow,
            Action=[cp_actions.PutJobSuccessResult, cp_actions.PutJobFailureResult],
            Resource=["*"],
        ),
        Statement(Sid="Notify", Effect=Allow, Action=[sns_actions.Publish], Resource=[Ref(notify_topic)]),
        # The drift check finds the approved artifact: the newest succeeded Sync action of this pipeline.
        Statement(
            Sid="FindApprovedArtifact",
            Effect=Allow,
            Action=[cp_actions.ListActionExecutions],
            Resource=[_pipeline_arn()],
        ),
        _tracing(),
    ]


def _tracing() -> Statement:
    """Active tracing: the Lambda runtime sends traces; X-Ray has no resource-level permissions."""
    return Statement(
        Sid="Tracing",
        Effect=Allow,
        Action=[xray_actions.PutTraceSegments, xray_actions.PutTelemetryRecords],
        Resource=["*"],
    )


MAC_ACTIONS = [kms_actions.Action("GenerateMac"), kms_actions.Action("VerifyMac")]


def _packaged_sync_code(p: Mapping[str, Any]) -> dict[str, Any]:
    """The handler and code of a function that runs the packaged sync zip (SyncCodeBucket/SyncCodeKey)."""
    return {
        "handler": Ref(p["SyncHandler"]),
        "code": awslambda.Code(S3Bucket=Ref(p["SyncCodeBucket"]), S3Key=Ref(p["SyncCodeKey"])),
    }


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
            **_packaged_sync_code(p),
            role=sync_role,
            log_group=sync_logs,
            variables={
                "NOTIFICATION_TOPIC_ARN": Ref(notify_topic),
                "STACKSET_PREFIX": Ref(p["StackSetPrefix"]),
                "TOKEN_KEY_ID": GetAtt(token_key, "Arn"),
                "PIPELINE_NAME": Sub(PIPELINE_NAME),
                **_trusted_settings(s),
            },
            FunctionName=Sub("${Project}-sync"),
            Timeout=limits.SYNC_LAMBDA_TIMEOUT_SECONDS,
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
    """What the build may do: its logs, its test reports, read the source and write its output artifact.
    It runs the commit's own code, so it gets no organization or StackSet reads (the Plan action, run by
    the packaged sync, plans) and may never write under plans/."""
    return [
        write_logs(build_logs),
        use_key(s.key),
        artifact_objects(s.bucket, write=True),
        _build_never_writes_plans(),
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
        *_use_connection("UseConnectionForGitClone", s.p),
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
        "The org pipeline build: branch check, render check, lint and tests",
    )
    return t.add_resource(
        codebuild.Project(
            "Build",
            Name=Sub("${Project}-build"),
            Description="Branch check, render check, lint and tests for the org roles",
            ServiceRole=GetAtt(build_role, "Arn"),
            EncryptionKey=GetAtt(key, "Arn"),
            # The buildspec is the template's, never the repository's (a file name here would be read from
            # the commit under review).
            Source=codebuild.Source(Type="CODEPIPELINE", BuildSpec=org_buildspec()),
            Artifacts=codebuild.Artifacts(Type="CODEPIPELINE"),
            Environment=codebuild.Environment(
                ComputeType="BUILD_GENERAL1_MEDIUM",
                Image=Ref(p["BuildImage"]),
                Type="LINUX_CONTAINER",
                EnvironmentVariables=[
                    codebuild.EnvironmentVariable(Name="BRANCH_NAME", Value=Ref(p["BranchName"])),
                    codebuild.EnvironmentVariable(Name="SOURCE_PROVIDER", Value=Ref(p["SourceProvider"])),
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
                Name="BranchRenderLintTest",
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
    """The manual approval with the trusted plan's summary, the artifact's sha256 and the link to the stored
    plan, only when ApprovalRequired is true."""
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
                    Configuration={"NotificationArn": Ref(approval_topic), **APPROVAL_MESSAGE},
                    RunOrder=1,
                )
            ],
        ),
        Ref(AWS_NO_VALUE),
    )


def _invoke_sync(
    stage: str, action: str, sync: awslambda.Function, parameters: str, **extra: Any
) -> codepipeline.Stages:
    """A stage of one action that invokes the packaged sync Lambda on the build's artifact."""
    return codepipeline.Stages(
        Name=stage,
        Actions=[
            codepipeline.Actions(
                Name=action,
                **extra,
                ActionTypeId=codepipeline.ActionTypeId(
                    Category="Invoke", Owner="AWS", Provider="Lambda", Version="1"
                ),
                Configuration={"FunctionName": Ref(sync), "UserParameters": parameters},
                InputArtifacts=[codepipeline.InputArtifacts(Name="Build")],
                RunOrder=1,
            )
        ],
    )


def _sync_stage(sync: awslambda.Function) -> codepipeline.Stages:
    return _invoke_sync("Sync", "SyncStackSets", sync, SYNC_PARAMETERS)


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
        *_use_connection("GitHubSource", s.p),
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
            Name=Sub(PIPELINE_NAME),
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
                _plan_stage(sync),
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


# What the watcher starts the pipeline on (the management account's CloudTrail events of Organizations):
# every event after which the sync's stored walks are stale (pipeline.core.runstate.ORG_EVENTS: accounts
# moved, created, joined, removed, departed or closed; OUs created, renamed or deleted). CloudTrail records
# failed calls too, with an errorCode
# (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html);
# those changed nothing, so only events without one match ("exists": false matching,
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html).
WATCHED_EVENTS = {
    "source": ["aws.organizations"],
    "detail-type": ["AWS API Call via CloudTrail", "AWS Service Event via CloudTrail"],
    "detail": {"eventName": list(ORG_EVENTS), "errorCode": [{"exists": False}]},
}


def _pipeline_arn() -> Sub:
    """The pipeline's ARN by name, for the sync's role (which cannot refer to the pipeline: a cycle)."""
    return Sub(f"arn:${{AWS::Partition}}:codepipeline:${{AWS::Region}}:${{AWS::AccountId}}:{PIPELINE_NAME}")


def _drift_check(t: Template, p: Mapping[str, Parameter], sync: awslambda.Function) -> None:
    """On DriftCheckSchedule, the sync Lambda runs drift detection on the approved roles and tells the
    notification topic when anything drifted (pipeline.job, drift). The input is constant: the Lambda
    decides what to check (the newest approved artifact), never the event."""
    rule = t.add_resource(
        events.Rule(
            "DriftCheckRule",
            Condition=DRIFT_CHECK,
            Description="Scheduled drift check of the org roles (the approved artifact)",
            ScheduleExpression=Ref(p["DriftCheckSchedule"]),
            State="ENABLED",
            Targets=[events.Target(Id="SyncDriftCheck", Arn=GetAtt(sync, "Arn"), Input=DRIFT_INPUT)],
        )
    )
    permission = invoked_by_rule("DriftCheckInvokePermission", sync, rule)
    permission.Condition = DRIFT_CHECK
    t.add_resource(permission)


def _org_events_function(
    s: _Stack, retention: Parameter, pipeline: codepipeline.Pipeline
) -> awslambda.Function:
    """The function the watcher invokes, its log group and its role (pipeline.job.waiting_execution)."""
    t, p = s.t, s.p
    pipeline_arn = Sub("arn:${AWS::Partition}:codepipeline:${AWS::Region}:${AWS::AccountId}:${Pipeline}")
    events_logs = t.add_resource(
        encrypted_log_group("OrgEventsLogs", Sub(ORG_EVENTS_LOG_GROUP), s.key, retention)
    )
    role = _role(
        t,
        "OrgEventsRole",
        "lambda.amazonaws.com",
        [
            write_logs(events_logs),
            use_key(s.key, actions=[kms_actions.Decrypt]),
            Statement(
                Sid="StartPipelineOnce",
                Effect=Allow,
                Action=[
                    cp_actions.ListPipelineExecutions,
                    cp_actions.GetPipelineState,
                    cp_actions.StartPipelineExecution,
                ],
                Resource=[pipeline_arn],
            ),
            _tracing(),
        ],
        "Organizations events: start the org pipeline unless a run that has not yet planned is waiting",
    )
    function = t.add_resource(
        python_function(
            "OrgEventsFunction",
            "Starts the org pipeline on Organizations events, once per burst",
            **_packaged_sync_code(p),
            role=role,
            log_group=events_logs,
            variables={"PIPELINE_NAME": Ref(pipeline)},
            FunctionName=Sub("${Project}-org-events"),
            Timeout=30,
            MemorySize=256,
            # Events of one burst are handled one at a time, so the second sees the run the first started.
            ReservedConcurrentExecutions=1,
            KmsKeyArn=GetAtt(s.key, "Arn"),
            TracingConfig=awslambda.TracingConfig(Mode="Active"),
            Metadata=checkov_skips(
                (
                    "CKV_AWS_116",
                    "EventBridge retries failed asynchronous invocations; the next event starts a run",
                ),
                ("CKV_AWS_117", "calls only the CodePipeline API; a VPC would add NAT cost and no isolation"),
            ),
        )
    )
    return function


def _watcher(
    s: _Stack, retention: Parameter, pipeline: codepipeline.Pipeline, sync: awslambda.Function
) -> None:
    """When accounts move or OUs and accounts are created, tell the sync (its stored organization walks are
    stale from then on) and a small function (the packaged code's Organizations-event entry point) that
    starts the pipeline, unless an execution that has not yet reached the Plan stage is already running: it
    will read the new organization anyway, so a burst of events costs one run, not one queued run per event
    (pipeline.job.waiting_execution)."""
    t = s.t
    function = _org_events_function(s, retention, pipeline)
    # Organizations is a global service: its CloudTrail events reach EventBridge in us-east-1 only
    # (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_integrate_services.html,
    # "EventBridge"), so deploy this stack in us-east-1 for the watcher to fire.
    t.add_resource(
        events.Rule(
            "OrganizationWatcherRule",
            Description="An account moved, or an OU or account was created: run the pipeline to converge",
            EventPattern=WATCHED_EVENTS,
            Targets=[
                events.Target(Id="StartPipeline", Arn=GetAtt(function, "Arn")),
                events.Target(Id="MarkWalksStale", Arn=GetAtt(sync, "Arn")),
            ],
        )
    )
    # A Lambda target needs the function's resource policy to let EventBridge invoke it, from this rule
    # only (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-lambda-permissions);
    # a target without a RoleArn is invoked through that policy.
    t.add_resource(invoked_by_rule("WatcherInvokesSync", sync, "OrganizationWatcherRule"))
    t.add_resource(invoked_by_rule("OrgEventsInvokePermission", function, "OrganizationWatcherRule"))
    # Organizations events are delivered in the management account only (they are CloudTrail events of
    # its API calls): a delegated administrator's pipeline receives them from a rule there
    # (templates/org/management-events.yaml) on its default bus, which this policy opens to that one
    # account ("Sending and receiving events between AWS accounts in Amazon EventBridge",
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html).
    t.add_resource(
        events.EventBusPolicy(
            "ManagementAccountEvents",
            Condition=DELEGATED_ADMIN,
            EventBusName="default",
            StatementId="OrgRolesManagementAccountEvents",
            Statement={
                "Effect": "Allow",
                "Principal": {"AWS": Sub("arn:${AWS::Partition}:iam::${ManagementAccountId}:root")},
                "Action": "events:PutEvents",
                "Resource": Sub(
                    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
                ),
            },
        )
    )


def forwarder_template() -> Template:
    """The management account's half of the watcher in delegated-admin mode: a rule that forwards the
    Organizations events the pipeline watches to the pipeline account's default bus (us-east-1, where
    Organizations events are delivered), through a role that may put events on that bus only."""
    t, project = new_template(
        "Management account (delegated-admin mode): forwards the Organizations events that change the "
        "organization (accounts moved, created, joined, removed, departed or closed; OUs created, renamed or "
        "deleted) to the org pipeline account's default event bus",
        project_default="org-roles",
    )
    account = t.add_parameter(
        Parameter(
            "PipelineAccountId",
            Type="String",
            AllowedPattern="^[0-9]{12}$",
            Description="The delegated administrator account running the org pipeline",
        )
    )
    bus = Sub("arn:${AWS::Partition}:events:${AWS::Region}:${PipelineAccountId}:event-bus/default")
    role = _role(
        t,
        "ForwarderRole",
        "events.amazonaws.com",
        [Statement(Sid="PutOnPipelineBus", Effect=Allow, Action=[events_actions.PutEvents], Resource=[bus])],
        "EventBridge forwards Organizations events to the org pipeline account",
    )
    t.add_resource(
        events.Rule(
            "OrganizationEventsForwarder",
            Description="Organizations changes the org pipeline converges on, to the pipeline account",
            EventPattern=WATCHED_EVENTS,
            Targets=[events.Target(Id="PipelineAccountBus", Arn=bus, RoleArn=GetAtt(role, "Arn"))],
        )
    )
    t.add_output(Output("ForwardsTo", Value=Ref(account)))
    return apply_tags(t, standard_tags(project))


# --- the trust boundary (issue 13): the plan is the packaged sync's, and binds the run ------------------------

# The org guardrails, set here and never in the repository under review (pipeline/core/guardrails.py).
TRUST: dict[str, dict[str, Any]] = {
    "LoginAccountId": {
        "Type": "String",
        "AllowedPattern": "^[0-9]{12}$",
        "ConstraintDescription": "a 12-digit account id",
        "Description": "Guardrail: the login account every role may trust (org.yaml must name the same one)",
    },
    "TrustedAccountIds": {
        "Type": "CommaDelimitedList",
        "Default": "",
        "Description": "Guardrail: other accounts roles may trust (for example a CI account), comma-separated",
    },
    "BreakGlassRoleNames": {
        "Type": "CommaDelimitedList",
        "Default": "BreakGlass",
        "Description": "Guardrail: the only role names that may be granted Action '*'",
    },
    "MaxSessionDurationSeconds": {
        "Type": "Number",
        "Default": 43200,
        "MinValue": 3600,
        "MaxValue": 43200,
        "Description": "Guardrail: the longest MaxSessionDuration a role may have",
    },
}
BUILDSPEC = "org-pipeline.yml"
# What the Plan action hands on: CodePipeline resolves #{namespace.variable} in action configuration at run
# time (Variables reference, CodePipeline User Guide:
# https://docs.aws.amazon.com/codepipeline/latest/userguide/reference-variables.html), and the Lambda sets
# them with PutJobSuccessResult outputVariables. PipelineExecutionId names the plan's folder.
PLAN_PARAMETERS = json.dumps(
    {"execution": "#{codepipeline.PipelineExecutionId}", "mode": "plan"}, sort_keys=True
)
# ORG_WALK: the organization walk the Plan action made (or "cached"), which the Sync action reuses while
# no Organizations event has come since: one walk per pipeline run.
SYNC_PARAMETERS = json.dumps(
    {"approved_sha256": "#{PlanVariables.ARTIFACT_SHA256}", "org_walk": "#{PlanVariables.ORG_WALK}"},
    sort_keys=True,
)
APPROVAL_MESSAGE = {
    "CustomData": "Approving runs exactly the artifact with sha256 #{PlanVariables.ARTIFACT_SHA256} "
    "(the Sync action refuses any other). #{PlanVariables.PLAN_SUMMARY}",
    "ExternalEntityLink": "#{PlanVariables.PLAN_URL}",
}


def org_buildspec() -> str:
    """The org pipeline's buildspec, shipped with the generator (package data), embedded in the template."""
    return files("generator.blueprints").joinpath("buildspecs").joinpath(BUILDSPEC).read_text("utf-8")


def _plan_stage(sync: awslambda.Function) -> codepipeline.Stages:
    """The packaged sync plans the build's exact artifact against the live organization, checks the
    guardrails, stores the plan under plans/<execution>/ and hands ARTIFACT_SHA256, PLAN_SUMMARY and PLAN_URL
    to the approval and the Sync action."""
    return _invoke_sync("Plan", "PlanAndCheckGuardrails", sync, PLAN_PARAMETERS, Namespace="PlanVariables")


def _trusted_settings(s: _Stack) -> dict[str, Any]:
    """The sync Lambda's guardrail settings and the bucket it keeps plans in."""
    p = s.p
    return {
        "PLAN_BUCKET": Ref(s.bucket),
        "GUARDRAIL_LOGIN_ACCOUNT_ID": Ref(p["LoginAccountId"]),
        "GUARDRAIL_TRUSTED_ACCOUNT_IDS": Join(",", Ref(p["TrustedAccountIds"])),
        "GUARDRAIL_BREAK_GLASS_ROLES": Join(",", Ref(p["BreakGlassRoleNames"])),
        "GUARDRAIL_MAX_SESSION_SECONDS": Ref(p["MaxSessionDurationSeconds"]),
    }


PLAN_OBJECTS = "${ArtifactBucket.Arn}/plans/*"
# The sync's run state (pipeline.aws.syncstate): continuation state and organization walks, content-addressed.
STATE_OBJECTS = "${ArtifactBucket.Arn}/sync-state/*"
PLAN_WRITES = [
    s3_actions.PutObject,
    s3_actions.DeleteObject,
    s3_actions.DeleteObjectVersion,
    s3_actions.PutObjectAcl,
    s3_actions.PutObjectVersionAcl,
]


def _write_plans() -> Statement:
    """The sync stores each plan once (If-None-Match), under plans/<execution>/<job>/, and its run state
    under sync-state/ (nowhere else)."""
    return Statement(
        Sid="WritePlansAndState",
        Effect=Allow,
        Action=[s3_actions.PutObject],
        Resource=[Sub(PLAN_OBJECTS), Sub(STATE_OBJECTS)],
    )


def _list_artifacts() -> Statement:
    """The sync reads sync-state/ objects that may not exist yet (no walk stored, no Organizations event
    seen): without s3:ListBucket S3 answers a missing key with 403 Access Denied instead of 404 NoSuchKey
    (GetObject, Permissions: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). The
    role reads every object of the bucket already, so listing their keys discloses nothing more."""
    return Statement(
        Sid="ListArtifacts",
        Effect=Allow,
        Action=[s3_actions.ListBucket],
        Resource=[GetAtt("ArtifactBucket", "Arn")],
    )


def _build_never_writes_plans() -> Statement:
    return Statement(
        Sid="NeverWritePlans",
        Effect=Deny,
        Action=PLAN_WRITES,
        Resource=[Sub(PLAN_OBJECTS), Sub(STATE_OBJECTS)],
    )


def _plans_written_by_the_sync_only() -> Statement:
    """A stored plan is what an approver read: no principal but the sync's role may write, replace or delete
    one (a bucket policy deny, so no identity policy in the account can grant it)."""
    return Statement(
        Sid="PlansAreWrittenBySyncOnly",
        Effect=Deny,
        Principal=Principal("*"),
        Action=PLAN_WRITES,
        Resource=[Sub(PLAN_OBJECTS), Sub(STATE_OBJECTS)],
        Condition=Condition(ArnNotEquals({"aws:PrincipalArn": GetAtt("SyncRole", "Arn")})),
    )


def build_template() -> Template:
    t, project = new_template(
        "Org roles pipeline: GitHub/CodeCommit/S3 source, CodeBuild (render check, lint, tests, plan), "
        "optional manual approval, sync Lambda onto StackSets, notifications, and the account-move watcher",
        project_default="org-roles",
    )
    p = _parameters(t)
    _conditions(t, p)
    _delegated_admin(t, p)
    retention = log_retention_parameter(t)
    key = _key(t)
    s = _Stack(t=t, p=p, key=key, bucket=_bucket(t, p, key))
    topics = _topics(s)
    sync = _sync(s, retention, topics.notification)
    pipeline = _pipeline(s, _build(s, retention), sync, topics.approval)
    _result_rule(t, pipeline, topics.notification)
    _watcher(s, retention, pipeline, sync)
    _drift_check(t, p, sync)
    add_central_alarm(t, key)
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
    return {PATH: build_template(), FORWARDER_PATH: forwarder_template()}


BLUEPRINT = Blueprint(
    name="org-pipeline",
    description="The org roles pipeline: source, build and plan, approval, sync Lambda, notifications, watcher",
    outputs=(PATH, FORWARDER_PATH),
    build=build,
    module=__name__,
)
