"""Notifications: SNS topic policies and email subscriptions, the cost and health alert topic, and the
alarms that feed it (a Lambda function's errors, the account's estimated charges).
"""

from __future__ import annotations

from typing import Any

import awacs.sns as sns_actions
from awacs.aws import Allow, ArnLike, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import Parameter, Ref, Sub, Template, cloudwatch, sns

from generator.blueprints.parts.metadata import checkov_skips, created_if

# AWS/Billing EstimatedCharges is published only in us-east-1, about every 6 hours, as the month's
# running total: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/monitor_estimated_charges_with_cloudwatch.html
BILLING_REGION = "us-east-1"
BILLING_PERIOD_SECONDS = 21600
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def topic_policy(topic: sns.Topic, statements: list[Statement]) -> sns.TopicPolicy:
    """The policy of one topic, titled <Topic>Policy. It replaces the topic's default policy, so its
    statements must name every publisher."""
    return sns.TopicPolicy(
        f"{topic.title}Policy",
        Topics=[Ref(topic)],
        PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements),
    )


def events_publish(topic: sns.Topic) -> Statement:
    """EventBridge rules of this account may publish to `topic` (aws:SourceAccount against confused deputies:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html)."""
    return Statement(
        Sid="EventBridgePublishes",
        Effect=Allow,
        Principal=Principal("Service", ["events.amazonaws.com"]),
        Action=[sns_actions.Publish],
        Resource=[Ref(topic)],
        Condition=Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})),
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


def add_alert_topic(t: Template) -> sns.Topic:
    """An SNS topic with an email subscription that CloudWatch alarms and AWS Budgets may publish to."""
    email = t.add_parameter(
        Parameter(
            "AlertEmail",
            Type="String",
            AllowedPattern=EMAIL_PATTERN,
            ConstraintDescription="an email address",
            Description="Email address that receives budget and alarm notifications (confirm the subscription)",
        )
    )
    topic = t.add_resource(
        sns.Topic(
            "AlertTopic",
            DisplayName=Sub("${Project} cost and health alerts"),
            Metadata=checkov_skips(
                (
                    "CKV_AWS_26",
                    "CloudWatch alarms and AWS Budgets cannot publish to a topic encrypted with the AWS managed "
                    "key aws/sns, and a customer managed key costs 1 USD a month, a tenth of this budget",
                )
            ),
        )
    )
    t.add_resource(email_subscription("AlertEmailSubscription", topic, email))
    # A topic policy replaces the default one, so it names both publishers with confused-deputy
    # conditions: https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html
    # and https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html
    t.add_resource(
        topic_policy(
            topic,
            [
                _publish_from(
                    "budgets",
                    Ref(topic),
                    StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
                    ArnLike("aws:SourceArn", Sub("arn:${AWS::Partition}:budgets::${AWS::AccountId}:*")),
                ),
                _publish_from(
                    "cloudwatch",
                    Ref(topic),
                    ArnLike(
                        "aws:SourceArn",
                        Sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"),
                    ),
                ),
            ],
        )
    )
    return topic


def _publish_from(service: str, topic: Ref, *conditions: Any) -> Statement:
    """`service`.amazonaws.com may publish to the topic, under the given confused-deputy conditions."""
    return Statement(
        Sid=f"{service.capitalize()}Publish",
        Effect=Allow,
        Principal=Principal("Service", f"{service}.amazonaws.com"),
        Action=[sns_actions.Publish],
        Resource=[topic],
        Condition=Condition(list(conditions)),
    )


def add_billing_alarm(
    t: Template,
    name: str,
    threshold: Parameter,
    topic: sns.Topic,
    *,
    description: str,
    condition: str | None = None,
    alarm_name: Any = None,
) -> cloudwatch.Alarm:
    """An alarm on the account's estimated charges for the month (USD) above `threshold`, notifying `topic`;
    named `alarm_name` when given (so a policy can name it)."""
    named = {"AlarmName": alarm_name} if alarm_name is not None else {}
    return t.add_resource(
        cloudwatch.Alarm(
            name,
            **named,
            AlarmDescription=description,
            Namespace="AWS/Billing",
            MetricName="EstimatedCharges",
            Dimensions=[cloudwatch.MetricDimension(Name="Currency", Value="USD")],
            Statistic="Maximum",
            Period=BILLING_PERIOD_SECONDS,
            EvaluationPeriods=1,
            Threshold=Ref(threshold),
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=[Ref(topic)],
            **created_if(condition),
        )
    )
