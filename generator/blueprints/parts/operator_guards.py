"""What the web service's tag-based operator policy must not allow, and Session Manager in place of SSH.

Operators act on resources tagged Project=<name> (ABAC). Two things would undo that: switching off the billing
alarms that watch the budget (they carry the Project tag too), and changing a Project tag, which moves a
resource into or out of what the policy covers. Both are denied explicitly, so no other policy attached to an
operator grants them back.
"""

from __future__ import annotations

from typing import Any

import awacs.autoscaling as autoscaling_actions
import awacs.cloudwatch as cloudwatch_actions
import awacs.ec2 as ec2_actions
import awacs.ecs as ecs_actions
import awacs.secretsmanager as secretsmanager_actions
import awacs.ssm as ssm_actions
import awacs.ssmmessages as ssmmessages_actions
from awacs.aws import Allow, Condition, Deny, ForAnyValueStringEquals, Statement
from troposphere import Sub

from generator.blueprints.parts.alerts import BILLING_REGION

PROJECT_TAG = "Project"
# Billing alarms get these names (the alarm name is the last part of its ARN), so the deny can name them.
BILLING_ALARM_NAME = "${Project}-billing-"

# Tagging and untagging, for every service the operator policy reaches.
TAG_ACTIONS = (
    ec2_actions.CreateTags,
    ec2_actions.DeleteTags,
    ecs_actions.TagResource,
    ecs_actions.UntagResource,
    autoscaling_actions.CreateOrUpdateTags,
    autoscaling_actions.DeleteTags,
    secretsmanager_actions.TagResource,
    secretsmanager_actions.UntagResource,
    cloudwatch_actions.TagResource,
    cloudwatch_actions.UntagResource,
)
# What would silence or remove an alarm (Amazon CloudWatch actions:
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
ALARM_ACTIONS = (
    cloudwatch_actions.DisableAlarmActions,
    cloudwatch_actions.DeleteAlarms,
    cloudwatch_actions.PutMetricAlarm,
    cloudwatch_actions.SetAlarmState,
)


def billing_alarm_name(level: str) -> Any:
    return Sub(f"{BILLING_ALARM_NAME}{level.lower()}")


def keep_billing_alarms() -> Statement:
    """The billing alarms live in us-east-1 (where the AWS/Billing metric is)."""
    return Statement(
        Sid="KeepBillingAlarms",
        Effect=Deny,
        Action=list(ALARM_ACTIONS),
        Resource=[
            Sub(
                f"arn:${{AWS::Partition}}:cloudwatch:{BILLING_REGION}:${{AWS::AccountId}}:alarm:"
                f"{BILLING_ALARM_NAME}*"
            )
        ],
    )


def keep_project_tags() -> Statement:
    """aws:TagKeys holds the keys a tag or untag request names; ForAnyValue matches when one of them is
    Project (Controlling access to IAM resources with tags, tag keys:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/access_tags.html#access_tags_control-tag-keys)."""
    return Statement(
        Sid="KeepProjectTags",
        Effect=Deny,
        Action=list(TAG_ACTIONS),
        Resource=["*"],
        Condition=Condition(ForAnyValueStringEquals({"aws:TagKeys": [PROJECT_TAG]})),
    )


def session_manager_instance_statements() -> list[Statement]:
    """What the SSM Agent on the instance needs for Session Manager, and nothing else (no
    AmazonSSMManagedInstanceCore, which also reads every SSM parameter): "Step 2: Verify or add instance
    permissions for Session Manager", minimal policy,
    https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-add-permissions-to-existing-profile.html.
    The ssmmessages actions have no resource types, so they take '*'."""
    return [
        Statement(
            Sid="SessionManagerAgent",
            Effect=Allow,
            Action=[ssm_actions.UpdateInstanceInformation],
            Resource=[Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*")],
        ),
        Statement(
            Sid="SessionManagerChannels",
            Effect=Allow,
            Action=[
                ssmmessages_actions.CreateControlChannel,
                ssmmessages_actions.CreateDataChannel,
                ssmmessages_actions.OpenControlChannel,
                ssmmessages_actions.OpenDataChannel,
            ],
            Resource=["*"],
        ),
    ]


def start_sessions_document() -> Statement:
    """StartSession is authorized on the instance (tag-scoped in the operator grants) and on the session
    document; the default shell document is SSM-SessionManagerRunShell (Session Manager: "Control user
    session access to instances", https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-restrict-access-quickstart.html)."""
    return Statement(
        Sid="SessionDocument",
        Effect=Allow,
        Action=[ssm_actions.StartSession],
        Resource=[
            Sub(
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/SSM-SessionManagerRunShell"
            )
        ],
    )
