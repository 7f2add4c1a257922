"""Blueprint: the workload-account half of event-driven ECS deploys: an encrypted SNS topic only the CI
account's publisher role may publish to, and the Lambda (pipeline/ecs_deploy.py) that deploys or rolls back
services of one ECS cluster, with a dead-letter queue and alarms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import awacs.ecs as ecs_actions
import awacs.kms as kms_actions
import awacs.sns as sns_actions
import awacs.sqs as sqs_actions
import awacs.xray as xray_actions
from awacs.aws import (
    Allow,
    ArnEquals,
    ArnNotEquals,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import (
    AccountId,
    Equals,
    GetAtt,
    Not,
    Output,
    Parameter,
    Ref,
    Sub,
    Template,
    awslambda,
    cloudwatch,
    iam,
    kms,
    logs,
    sns,
    sqs,
)

from generator.blueprints.base import Blueprint, RenderContext, apply_tags, new_template, standard_tags
from generator.blueprints.parts.alerts import email_subscription, lambda_errors_alarm, topic_policy
from generator.blueprints.parts.iam import (
    deny_insecure_transport,
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
from generator.blueprints.parts.lambdas import python_function
from generator.blueprints.parts.metadata import checkov_skips

PATH = "app/ecs-deploy-workload.yaml"
HANDLER = "ecs_deploy.handler"
HAS_EMAIL = "AlarmEmailGiven"
ECS_ARN = "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}"


def _parameters(t: Template) -> dict[str, Parameter]:
    def add(name: str, **kwargs: Any) -> Parameter:
        kwargs.setdefault("Type", "String")
        return t.add_parameter(Parameter(name, **kwargs))

    return {
        "cluster": add(
            "ClusterName",
            AllowedPattern="^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$",
            Description="ECS cluster whose services the function may deploy and roll back (and no other)",
        ),
        "family": add(
            "TaskFamilyPrefix",
            Default="",
            AllowedPattern="^[A-Za-z0-9_-]{0,255}$",
            Description="Task definition families the function may register and tag new revisions of start "
            "with this (empty: any family)",
        ),
        "task_roles": add(
            "TaskRoleArns",
            Type="CommaDelimitedList",
            Description="Task and execution role ARNs of the services' task definitions (iam:PassRole targets)",
        ),
        "publisher": add(
            "PublisherRoleArn",
            AllowedPattern="^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$",
            Description="The CI account's publisher role (the ecs-deploy-ci stack's PublisherRoleArn output)",
        ),
        "topic_name": add(
            "TopicName",
            Default="app-deploy",
            AllowedPattern="^[A-Za-z0-9_-]{1,256}$",
            Description="Name of the deploy topic (fixed, so the CI stack can be given its ARN first)",
        ),
        "code_bucket": add(
            "CodeS3Bucket",
            AllowedPattern="^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            Description="S3 bucket (same region) holding the function's zip: `python -m pipeline.app_deploy package`",
        ),
        "code_key": add(
            "CodeS3Key",
            Description="S3 key of the zip; the content-addressed key `package` prints makes every change an update",
        ),
        "registries": add(
            "AllowedRegistries",
            Default="",
            # Registry hosts (host[:port]), comma-separated; the function's own account's ECR in this region
            # is always allowed (pipeline/apps/ecs_deploy.py, ALLOWED_REGISTRIES).
            AllowedPattern="^$|^[A-Za-z0-9.-]+(:[0-9]{1,5})?(,[A-Za-z0-9.-]+(:[0-9]{1,5})?)*$",
            Description="Image registries to deploy from besides this account's ECR in this region, "
            "comma-separated (e.g. public.ecr.aws,ghcr.io; empty: this account's ECR only)",
        ),
        "email": add(
            "AlarmEmail",
            Default="",
            AllowedPattern="^$|^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
            Description="Email told when a deploy fails or lands in the dead-letter queue (empty: none)",
        ),
        "log_days": log_retention_parameter(t),
    }


def _key_statements(p: dict[str, Parameter]) -> list[Statement]:
    sns_via = {"kms:ViaService": Sub("sns.${AWS::Region}.${AWS::URLSuffix}")}
    return [
        logs_may_use_key(),
        # The publisher in the CI account encrypts through SNS when it publishes to the SSE-KMS topic.
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
        Statement(
            Sid="PublisherEncryptsThroughSns",
            Effect=Allow,
            Principal=Principal("AWS", [Ref(p["publisher"])]),
            Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey],
            Resource=["*"],
            Condition=Condition(StringEquals(sns_via)),
        ),
        # SNS writes undeliverable messages to the encrypted dead-letter queue, and CloudWatch publishes
        # alarms to the encrypted alarm topic: both as services, for this account only.
        Statement(
            Sid="ServicesEncryptForThisAccount",
            Effect=Allow,
            Principal=Principal("Service", ["sns.amazonaws.com", "cloudwatch.amazonaws.com"]),
            Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey],
            Resource=["*"],
            Condition=Condition(StringEquals({"aws:SourceAccount": AccountId})),
        ),
    ]


def _topic(t: Template, p: dict[str, Parameter], key: kms.Key) -> sns.Topic:
    topic = t.add_resource(
        sns.Topic(
            "DeployTopic",
            TopicName=Ref(p["topic_name"]),
            DisplayName="ECS deploy and rollback requests",
            KmsMasterKeyId=GetAtt(key, "Arn"),
        )
    )
    t.add_resource(
        topic_policy(
            topic,
            [
                Statement(
                    Sid="CiPublisherPublishes",
                    Effect=Allow,
                    Principal=Principal("AWS", [Ref(p["publisher"])]),
                    Action=[sns_actions.Publish],
                    Resource=[Ref(topic)],
                ),
                # Identity policies in this account could otherwise grant sns:Publish too: only the
                # publisher role may publish, whoever else holds the permission.
                Statement(
                    Sid="NobodyElsePublishes",
                    Effect=Deny,
                    Principal=Principal("*"),
                    Action=[sns_actions.Publish],
                    Resource=[Ref(topic)],
                    Condition=Condition(ArnNotEquals({"aws:PrincipalArn": Ref(p["publisher"])})),
                ),
                deny_insecure_transport([sns_actions.Publish], [Ref(topic)]),
            ],
        )
    )
    return topic


def _dead_letter_queue(t: Template, key: kms.Key, topic: sns.Topic) -> sqs.Queue:
    queue = t.add_resource(
        sqs.Queue(
            "DeadLetterQueue",
            KmsMasterKeyId=GetAtt(key, "Arn"),
            KmsDataKeyReusePeriodSeconds=3600,
            MessageRetentionPeriod=1209600,  # 14 days, the SQS maximum: time to look at a failed deploy
            # Dead letters describe deploys that are over; they go with the stack.
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
        )
    )
    t.add_resource(
        sqs.QueuePolicy(
            "DeadLetterQueuePolicy",
            Queues=[Ref(queue)],
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    # SNS's own redrive, for messages it could not hand to the function at all.
                    Statement(
                        Sid="SnsRedrivesUndeliverable",
                        Effect=Allow,
                        Principal=Principal("Service", ["sns.amazonaws.com"]),
                        Action=[sqs_actions.SendMessage],
                        Resource=[GetAtt(queue, "Arn")],
                        Condition=Condition(ArnEquals({"aws:SourceArn": Ref(topic)})),
                    ),
                    deny_insecure_transport([sqs_actions.Action("*")], [GetAtt(queue, "Arn")]),
                ],
            ),
        )
    )
    return queue


def _function_role(
    t: Template, p: dict[str, Parameter], key: kms.Key, queue: sqs.Queue, log_group: logs.LogGroup
) -> iam.Role:
    cluster_services = Sub(ECS_ARN + ":service/${ClusterName}/*")
    return t.add_resource(
        role_with_policy(
            "FunctionRole",
            "ECS deploy function: deploy and roll back services of one cluster",
            # Only Lambda, on behalf of this account, assumes it (aws:SourceAccount: the cross-service
            # confused deputy guard, https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
            service_trust("lambda.amazonaws.com"),
            [
                Statement(
                    Sid="RollClusterServices",
                    Effect=Allow,
                    Action=[ecs_actions.DescribeServices, ecs_actions.UpdateService],
                    Resource=[cluster_services],
                ),
                # DescribeTaskDefinition, ListTaskDefinitions and RegisterTaskDefinition have no
                # resource-level permissions (Service Authorization Reference, Amazon ECS).
                Statement(
                    Sid="TaskDefinitions",
                    Effect=Allow,
                    Action=[
                        ecs_actions.DescribeTaskDefinition,
                        ecs_actions.ListTaskDefinitions,
                        ecs_actions.RegisterTaskDefinition,
                    ],
                    Resource=["*"],
                ),
                # New revisions keep the tags of the one they copy.
                tag_new_task_definitions(Sub(ECS_ARN + ":task-definition/${TaskFamilyPrefix}*:*")),
                pass_roles_to_ecs_tasks(Ref(p["task_roles"])),
                Statement(
                    Sid="DeadLetters",
                    Effect=Allow,
                    Action=[sqs_actions.SendMessage],
                    Resource=[GetAtt(queue, "Arn")],
                ),
                use_key(key, actions=[kms_actions.Decrypt, kms_actions.GenerateDataKey]),
                write_logs(log_group),
                # X-Ray's trace APIs have no resource-level permissions (Service Authorization
                # Reference, AWS X-Ray).
                Statement(
                    Sid="Traces",
                    Effect=Allow,
                    Action=[xray_actions.PutTelemetryRecords, xray_actions.PutTraceSegments],
                    Resource=["*"],
                ),
            ],
            policy_name="deploy-one-cluster",
            Metadata=checkov_skips(
                (
                    "CKV_AWS_111",
                    "ecs:RegisterTaskDefinition has no resource-level permissions; service updates, tags and "
                    "iam:PassRole are scoped to the cluster, task families and task role ARNs",
                )
            ),
        )
    )


def _alarms(
    t: Template, p: dict[str, Parameter], key: kms.Key, function: awslambda.Function, queue: sqs.Queue
) -> sns.Topic:
    alarm_topic = t.add_resource(
        sns.Topic("AlarmTopic", DisplayName="ECS deploy failures", KmsMasterKeyId=GetAtt(key, "Arn"))
    )
    t.add_resource(email_subscription("AlarmEmailSubscription", alarm_topic, p["email"], HAS_EMAIL))
    t.add_resource(
        lambda_errors_alarm(
            "DeployErrorsAlarm",
            "An ECS deploy or rollback failed or was rejected; see the function's log",
            function,
            alarm_topic,
            period=60,
        )
    )
    t.add_resource(
        cloudwatch.Alarm(
            "DeadLettersAlarm",
            AlarmDescription="Deploy messages are waiting in the dead-letter queue",
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[cloudwatch.MetricDimension(Name="QueueName", Value=GetAtt(queue, "QueueName"))],
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=[Ref(alarm_topic)],
        )
    )
    return alarm_topic


def _deploy_function(
    t: Template, p: dict[str, Parameter], key: kms.Key, queue: sqs.Queue, topic: sns.Topic
) -> awslambda.Function:
    """The deploy Lambda with its log group and role; one invocation at a time, failures to the queue."""
    log_group = t.add_resource(
        encrypted_log_group(
            "FunctionLogGroup", Sub("/org-stacksets/${AWS::StackName}/ecs-deploy"), key, p["log_days"]
        )
    )
    role = _function_role(t, p, key, queue, log_group)
    function = t.add_resource(
        python_function(
            "DeployFunction",
            "Deploy or roll back ECS services of one cluster from SNS messages",
            handler=HANDLER,
            # Shipped from S3, not inline: pipeline/ecs_deploy.py is well over the 4,096 characters that
            # Code.ZipFile allows. `python -m pipeline.app_deploy package` builds the zip reproducibly.
            code=awslambda.Code(S3Bucket=Ref(p["code_bucket"]), S3Key=Ref(p["code_key"])),
            role=role,
            log_group=log_group,
            # The function refuses messages from any other topic, families outside the prefix and
            # privileged containers in code (pipeline/apps/ecs_deploy.py: IAM cannot say it).
            variables={
                "CLUSTER_NAME": Ref(p["cluster"]),
                "ALLOWED_REGISTRIES": Ref(p["registries"]),
                "TASK_FAMILY_PREFIX": Ref(p["family"]),
                "TOPIC_ARN": Ref(topic),
            },
            # A known name: the sample org roles deny invoking functions named *-ecs-deploy directly
            # (org_roles/roles/Developer.yaml); messages come through the topic only.
            FunctionName=Sub("${Project}-ecs-deploy"),
            Timeout=60,
            MemorySize=256,
            # One deploy at a time: two messages for one service must not interleave their reads and writes.
            ReservedConcurrentExecutions=1,
            DeadLetterConfig=awslambda.DeadLetterConfig(TargetArn=GetAtt(queue, "Arn")),
            KmsKeyArn=GetAtt(key, "Arn"),
            TracingConfig=awslambda.TracingConfig(Mode="Active"),
            Metadata=checkov_skips(
                (
                    "CKV_AWS_117",
                    "calls only the ECS control-plane API; a VPC would add NAT or endpoints and reach nothing more",
                )
            ),
        )
    )
    t.add_resource(
        awslambda.EventInvokeConfig(
            "DeployFunctionInvokeConfig",
            FunctionName=Ref(function),
            Qualifier="$LATEST",
            # No automatic retries: a retried rollback would step back one more revision, and a rejected
            # message stays rejected. Failures go to the dead-letter queue and the alarm instead.
            MaximumRetryAttempts=0,
            MaximumEventAgeInSeconds=3600,
        )
    )
    return function


def _subscribe(t: Template, function: awslambda.Function, topic: sns.Topic, queue: sqs.Queue) -> None:
    """The topic invokes the function; what SNS cannot deliver goes to the dead-letter queue."""
    t.add_resource(
        awslambda.Permission(
            "TopicInvokesFunction",
            FunctionName=GetAtt(function, "Arn"),
            Action="lambda:InvokeFunction",
            Principal="sns.amazonaws.com",
            SourceArn=Ref(topic),
            SourceAccount=AccountId,
        )
    )
    t.add_resource(
        sns.SubscriptionResource(
            "FunctionSubscription",
            TopicArn=Ref(topic),
            Protocol="lambda",
            Endpoint=GetAtt(function, "Arn"),
            RedrivePolicy={"deadLetterTargetArn": GetAtt(queue, "Arn")},
        )
    )


def build_template() -> Template:
    t, project = new_template(
        "Workload account: an encrypted SNS topic only the CI publisher role may publish to, and a Lambda "
        "that deploys (new task definition revision with the given image and tag) or rolls back services "
        "of one ECS cluster, with a dead-letter queue and error alarms.",
        project_default="app",
    )
    p = _parameters(t)
    t.add_condition(HAS_EMAIL, Not(Equals(Ref(p["email"]), "")))
    key = t.add_resource(
        customer_key(
            "DeployKey", "Encrypts deploy messages, dead letters, alarms and logs", _key_statements(p)
        )
    )
    topic = _topic(t, p, key)
    queue = _dead_letter_queue(t, key, topic)
    function = _deploy_function(t, p, key, queue, topic)
    _subscribe(t, function, topic, queue)
    alarm_topic = _alarms(t, p, key, function, queue)
    t.add_output(
        [
            Output("TopicArn", Value=Ref(topic), Description="Give to the CI stack and the app_deploy CLI"),
            Output(
                "TopicKeyArn", Value=GetAtt(key, "Arn"), Description="Give to the CI stack to pin the key"
            ),
            Output("FunctionArn", Value=GetAtt(function, "Arn")),
            Output("DeadLetterQueueUrl", Value=Ref(queue)),
            Output("AlarmTopicArn", Value=Ref(alarm_topic)),
        ]
    )
    return apply_tags(t, standard_tags(project))


def build(ctx: RenderContext) -> Mapping[str, Template]:
    return {PATH: build_template()}


BLUEPRINT = Blueprint(
    name="ecs-deploy-workload",
    description="Event-driven ECS deploys, workload account: deploy topic, deploy/rollback Lambda, DLQ, alarms",
    outputs=(PATH,),
    build=build,
    module=__name__,
)
