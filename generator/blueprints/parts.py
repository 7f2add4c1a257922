"""Resource pieces the application blueprints share: service-role trust, a role with one inline policy, a
Python Lambda function and its errors alarm, a customer managed KMS key, an encrypted log group with its
write statement, log retention, topic policies and email subscriptions, a private bucket, a pipeline
artifact bucket and access to its objects, a TLS-only statement, the role CI assumes with an external id,
and checkov skip metadata.
"""

from __future__ import annotations

from typing import Any

import awacs.ecs as ecs_actions
import awacs.iam as iam_actions
import awacs.kms as kms_actions
import awacs.logs as logs_actions
import awacs.s3 as s3_actions
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
from troposphere import (
    AccountId,
    GetAtt,
    Parameter,
    Ref,
    Sub,
    Template,
    awslambda,
    cloudwatch,
    iam,
    kms,
    logs,
    s3,
    sns,
)

# The values CloudWatch Logs accepts for RetentionInDays (PutRetentionPolicy API reference).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192)
KEY_USE_ACTIONS = [kms_actions.Decrypt, kms_actions.Encrypt, kms_actions.GenerateDataKey]
# The one runtime of every Lambda function the blueprints deploy (the pipeline package's Python).
LAMBDA_RUNTIME = "python3.12"


def checkov_skips(*checks: tuple[str, str]) -> dict[str, Any]:
    """Resource Metadata that skips checkov checks, each (id, reason); the reason says why it does not apply."""
    for check_id, reason in checks:
        if not check_id.startswith("CKV") or len(reason) < 20:
            raise ValueError(
                f"checkov skip {check_id!r} needs a CKV id and a reason of at least 20 characters"
            )
    return {"checkov": {"skip": [{"id": check_id, "comment": reason} for check_id, reason in checks]}}


def created_if(condition: str | None) -> dict[str, Any]:
    """The Condition attribute of a resource that exists only under `condition`; none when it is None."""
    return {"Condition": condition} if condition else {}


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


def python_function(
    title: str,
    description: str,
    *,
    handler: Any,
    code: awslambda.Code,
    role: iam.Role,
    log_group: logs.LogGroup,
    variables: dict[str, Any],
    **kwargs: Any,
) -> awslambda.Function:
    """A Python Lambda function running as `role`, with `variables` as its environment, writing to the
    stack's own `log_group` (whose retention and key the stack sets). Timeout, MemorySize and any other
    property go in `kwargs`."""
    return awslambda.Function(
        title,
        Description=description,
        Runtime=LAMBDA_RUNTIME,
        Handler=handler,
        Code=code,
        Role=GetAtt(role, "Arn"),
        Environment=awslambda.Environment(Variables=variables),
        LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(log_group)),
        **kwargs,
    )


def lambda_errors_alarm(
    title: str, description: str, function: Any, topic: Any, period: int
) -> cloudwatch.Alarm:
    """An alarm that notifies `topic` when `function` reports any error (Sum of Errors >= 1) in `period` seconds."""
    return cloudwatch.Alarm(
        title,
        AlarmDescription=description,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[cloudwatch.MetricDimension(Name="FunctionName", Value=Ref(function))],
        Statistic="Sum",
        Period=period,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[Ref(topic)],
    )


def topic_policy(topic: sns.Topic, statements: list[Statement]) -> sns.TopicPolicy:
    """The policy of one topic, titled <Topic>Policy. It replaces the topic's default policy, so its
    statements must name every publisher."""
    return sns.TopicPolicy(
        f"{topic.title}Policy",
        Topics=[Ref(topic)],
        PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements),
    )


def email_subscription(
    title: str, topic: sns.Topic, email: Parameter, condition: str | None = None
) -> sns.SubscriptionResource:
    """Mail what `topic` receives to the address in `email` (confirmed once by its owner); with
    `condition`, only when the stack was given an address."""
    return sns.SubscriptionResource(
        title,
        TopicArn=Ref(topic),
        Protocol="email",
        Endpoint=Ref(email),
        **created_if(condition),
    )


def key_policy(statements: list[Statement]) -> PolicyDocument:
    """A key policy: the account may manage the key through IAM policies, plus the given grants.

    Without the account statement nobody could ever change or delete the key again:
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
    """
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Sid="AccountManagesKeyThroughIam",
                Effect=Allow,
                Principal=Principal("AWS", [Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")]),
                Action=[kms_actions.Action("*")],
                Resource=["*"],
            ),
            *statements,
        ],
    )


def logs_may_use_key() -> Statement:
    """CloudWatch Logs may encrypt this account's log groups with the key (and nothing else)."""
    return Statement(
        Sid="CloudWatchLogsEncryptsLogGroups",
        Effect=Allow,
        Principal=Principal("Service", [Sub("logs.${AWS::Region}.${AWS::URLSuffix}")]),
        # The action list of the CloudWatch Logs guide's key policy, as written there:
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
        Action=[
            kms_actions.Action(a)
            for a in ("Encrypt*", "Decrypt*", "ReEncrypt*", "GenerateDataKey*", "Describe*")
        ],
        Resource=["*"],
        Condition=Condition(
            ArnLike(
                {
                    "kms:EncryptionContext:aws:logs:arn": Sub(
                        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
                    )
                }
            )
        ),
    )


def customer_key(title: str, description: str, statements: list[Statement]) -> kms.Key:
    """A rotating customer managed key, retained on stack deletion so encrypted data stays readable."""
    return kms.Key(
        title,
        Description=description,
        EnableKeyRotation=True,
        KeyPolicy=key_policy(statements),
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
    )


def log_retention_parameter(t: Template, default: int = 365) -> Parameter:
    return t.add_parameter(
        Parameter(
            "LogRetentionDays",
            Type="Number",
            Default=default,
            AllowedValues=list(LOG_RETENTION_DAYS),
            Description="Days CloudWatch Logs keeps the logs",
        )
    )


def encrypted_log_group(title: str, name: Any, key: kms.Key, retention: Parameter) -> logs.LogGroup:
    return logs.LogGroup(
        title,
        LogGroupName=name,
        KmsKeyId=GetAtt(key, "Arn"),
        RetentionInDays=Ref(retention),
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
    )


def write_logs(log_group: logs.LogGroup) -> Statement:
    """Write log streams of one log group (its Arn attribute already ends in ':*', covering its streams)."""
    return Statement(
        Sid="WriteLogs",
        Effect=Allow,
        Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
        Resource=[GetAtt(log_group, "Arn")],
    )


def use_key(key: kms.Key, sid: str = "UseKey", actions: list[Any] | None = None) -> Statement:
    return Statement(Sid=sid, Effect=Allow, Action=actions or KEY_USE_ACTIONS, Resource=[GetAtt(key, "Arn")])


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


def private_bucket(title: str, key: kms.Key, expiry: s3.LifecycleRule, no_access_logs: str) -> s3.Bucket:
    """A bucket only the stack's own roles use: SSE-KMS with `key` (and a bucket key), versioned, no public
    access or ACLs, retained on stack deletion, expiring objects by the `expiry` rule. It has no server
    access logs, for the reason `no_access_logs` gives (the checkov skip)."""
    return s3.Bucket(
        title,
        BucketEncryption=s3.BucketEncryption(
            ServerSideEncryptionConfiguration=[
                s3.ServerSideEncryptionRule(
                    BucketKeyEnabled=True,
                    ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                        SSEAlgorithm="aws:kms", KMSMasterKeyID=GetAtt(key, "Arn")
                    ),
                )
            ]
        ),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True,
            BlockPublicPolicy=True,
            IgnorePublicAcls=True,
            RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3.OwnershipControls(
            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
        ),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[expiry]),
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
        Metadata=checkov_skips(("CKV_AWS_18", no_access_logs)),
    )


def artifact_bucket(t: Template, title: str, key: kms.Key, retention_days: Any) -> s3.Bucket:
    """A pipeline artifact bucket: a `private_bucket` whose artifacts expire, TLS only."""
    bucket = t.add_resource(
        private_bucket(
            title,
            key,
            s3.LifecycleRule(
                Id="ExpireArtifacts",
                Status="Enabled",
                ExpirationInDays=retention_days,
                NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1),
                AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
            ),
            "holds only short-lived pipeline artifacts written and read by the pipeline's own roles; "
            "server access logs would need a second bucket that itself goes unlogged",
        )
    )
    t.add_resource(
        s3.BucketPolicy(
            f"{title}Policy",
            Bucket=Ref(bucket),
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    deny_insecure_transport(
                        [s3_actions.Action("*")], [GetAtt(bucket, "Arn"), Sub(f"${{{title}.Arn}}/*")]
                    )
                ],
            ),
        )
    )
    return bucket


def artifact_objects(bucket: s3.Bucket, *, write: bool, sid: str = "Artifacts") -> Statement:
    """Read the objects (any version) of a pipeline artifact bucket, and with `write` put new ones."""
    actions = [s3_actions.GetObject, s3_actions.GetObjectVersion]
    return Statement(
        Sid=sid,
        Effect=Allow,
        Action=[*actions, s3_actions.PutObject] if write else actions,
        Resource=[Sub(f"${{{bucket.title}.Arn}}/*")],
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
