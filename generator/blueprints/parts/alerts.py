"""Notifications: SNS topic policies, email subscriptions and the alarm on a Lambda function's errors."""

from __future__ import annotations

from typing import Any

from awacs.aws import PolicyDocument, Statement
from troposphere import Parameter, Ref, cloudwatch, sns

from generator.blueprints.parts.metadata import created_if


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
