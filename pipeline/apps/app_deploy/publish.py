"""Assume the CI publisher role and publish one deploy or rollback message: thin adapters over STS and SNS.

The ARN checks and the message text are pure; the two AWS calls take their clients as arguments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pipeline.apps.ecs_deploy import DeployRequest, Request, parse_message, to_message
from pipeline.common.errors import EXIT_FAILED, ProductError, excerpt

TOPIC_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sns:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):(?P<name>[A-Za-z0-9_-]{1,256})$"
)
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$")
# sts:AssumeRole RoleSessionName: 2 to 64 characters of [\w+=,.@-] (AssumeRole API reference).
SESSION_UNSAFE = re.compile(r"[^\w+=,.@-]")
SESSION_MAX = 64


class AppDeployError(ProductError):
    """Base of every expected failure of the app deploy CLI; exit code 2 (bad input) unless overridden."""


class AwsCallError(AppDeployError):
    """An AWS call failed (denied, not found, unreachable)."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Topic:
    arn: str
    region: str
    account: str


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    assumed_role_arn: str


def parse_topic_arn(arn: str) -> Topic:
    match = TOPIC_ARN.match(arn)
    if not match:
        raise AppDeployError(
            f"--topic-arn {excerpt(arn, 100)} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        )
    return Topic(arn, match["region"], match["account"])


def check_role_arn(arn: str) -> str:
    if not ROLE_ARN.match(arn):
        raise AppDeployError(
            f"--role-arn {excerpt(arn, 100)} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
        )
    return arn


def session_name(action: str, service: str) -> str:
    """A RoleSessionName that says what the session was for, as CloudTrail shows it."""
    return SESSION_UNSAFE.sub("-", f"app-deploy-{action}-{service}")[:SESSION_MAX]


def message_for(request: Request, registries: Collection[str] | None = None) -> tuple[str, str]:
    """(subject, body) for a request; the body is validated exactly as the Lambda will validate it (with
    `registries`, the ones the function deploys from)."""
    body = to_message(request)
    parse_message(json.dumps(body, sort_keys=True), registries=registries)
    if isinstance(request, DeployRequest):
        subject = f"deploy {request.image_ref} to {request.cluster}/{request.service}"
    else:
        target = f"revision {request.revision}" if request.revision is not None else "the previous revision"
        subject = f"rollback {request.cluster}/{request.service} to {target}"
    # SNS subjects are limited to 100 printable ASCII characters (Publish API reference).
    return subject[:100], json.dumps(body, sort_keys=True)


def _error(what: str, exc: Exception) -> AwsCallError:
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    if error.get("Code"):
        return AwsCallError(f"{what}: {error['Code']}: {error.get('Message', '')}".rstrip(": "))
    return AwsCallError(f"{what}: {exc}")


def assume_publisher(sts: Any, role_arn: str, name: str, external_id: str | None) -> Credentials:
    """Temporary credentials of the publisher role (one hour at most under role chaining)."""
    from botocore.exceptions import BotoCoreError, ClientError

    kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": name, "DurationSeconds": 900}
    if external_id:
        kwargs["ExternalId"] = external_id
    try:
        response = sts.assume_role(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise _error(f"cannot assume {role_arn}", exc) from None
    creds = response["Credentials"]
    return Credentials(
        creds["AccessKeyId"],
        creds["SecretAccessKey"],
        creds["SessionToken"],
        response["AssumedRoleUser"]["Arn"],
    )


def publish(sns: Any, topic: Topic, subject: str, body: str, action: str) -> str:
    """Publish the message; its message id."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = sns.publish(
            TopicArn=topic.arn,
            Subject=subject,
            Message=body,
            MessageAttributes={"action": {"DataType": "String", "StringValue": action}},
        )
    except (ClientError, BotoCoreError) as exc:
        raise _error(f"cannot publish to {topic.arn}", exc) from None
    return str(response["MessageId"])
