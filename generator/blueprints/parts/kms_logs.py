"""Customer managed KMS keys and their policies, and CloudWatch log groups: retention, encryption, writing."""

from __future__ import annotations

from typing import Any

import awacs.kms as kms_actions
import awacs.logs as logs_actions
from awacs.aws import Allow, ArnLike, Condition, PolicyDocument, Principal, Statement
from troposphere import GetAtt, Parameter, Ref, Sub, Template, kms, logs

from generator.blueprints.parts.metadata import checkov_skips

# The values CloudWatch Logs accepts for RetentionInDays (PutRetentionPolicy API reference).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192)


KEY_USE_ACTIONS = [kms_actions.Decrypt, kms_actions.Encrypt, kms_actions.GenerateDataKey]


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


def use_key(key: kms.Key, sid: str = "UseKey", actions: list[Any] | None = None) -> Statement:
    return Statement(Sid=sid, Effect=Allow, Action=actions or KEY_USE_ACTIONS, Resource=[GetAtt(key, "Arn")])


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


def add_log_group(t: Template, name: str, retention: Parameter, **kwargs: Any) -> logs.LogGroup:
    """A log group with the stack's retention, encrypted by the service key (see the checkov skip)."""
    reason = (
        "encrypted at rest with the CloudWatch Logs service key; a customer managed key costs 1 USD a month, "
        "a tenth of this budget"
    )
    return t.add_resource(
        logs.LogGroup(
            name,
            RetentionInDays=Ref(retention),
            # Logs are diagnostics, not records: they go with the stack.
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
            Metadata=checkov_skips(("CKV_AWS_158", reason)),
            **kwargs,
        )
    )
