"""The alarm on every assumption of a break-glass role, anywhere in the organization: CloudTrail records the
AssumeRole call, EventBridge matches it, SNS tells people.

CloudTrail delivers an "AWS API Call via CloudTrail" event to the default event bus of the account where the
call is recorded ("When an AWS service in your account emits an event, it goes to your account's default
event bus", Events from AWS services, https://docs.aws.amazon.com/eventbridge/latest/userguide/event-types.html;
a trail must exist for these events, AWS service events delivered via AWS CloudTrail,
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html: the organization
trail is that trail in every member account). An AssumeRole is recorded in the account that owns the role,
so the design does not rely on the management account seeing member accounts' events:
- every break-glass role's StackSet template carries a forwarding rule (`add_forwarder`): AssumeRole of that
  role -> the central `<project>-break-glass` event bus in the management account;
- the org pipeline stack, in the management account (`add_central_alarm`), owns that bus (its policy admits
  PutEvents from the organization's accounts only, aws:PrincipalOrgID), a rule on it and one on its own
  default bus (the management account's break-glass role comes from the management-account stack) -> an
  encrypted SNS topic with an e-mail subscription.
STS records calls to the global endpoint in us-east-1 and calls to a regional endpoint in that region
(Logging IAM and AWS STS API calls with AWS CloudTrail,
https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html): the rules sit in the home
region, so the home region should be us-east-1 or people should use the home region's STS endpoint; the README
says so.
"""

from __future__ import annotations

from typing import Any

import awacs.events as events_actions
from awacs.aws import Allow, Statement
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Template, events, sns

from generator.blueprints.parts.alerts import email_subscription, events_publish, topic_policy
from generator.blueprints.parts.iam import role_with_policy, service_trust

BUS_NAME = "{project}-break-glass"
SUFFIX_PARAMETER = "BreakGlassRoleArnSuffix"


def assume_role_pattern(role_arn_suffix: Any) -> dict[str, Any]:
    """An AssumeRole of a role whose ARN ends with `role_arn_suffix` (":role/emergency/BreakGlass"): the
    suffix matching of EventBridge event patterns
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html#eb-filtering-suffix-matching)
    on the CloudTrail record's requestParameters.roleArn
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html)."""
    return {
        "source": ["aws.sts"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["sts.amazonaws.com"],
            "eventName": ["AssumeRole"],
            "requestParameters": {"roleArn": [{"suffix": role_arn_suffix}]},
        },
    }


def _message() -> events.InputTransformer:
    return events.InputTransformer(
        InputPathsMap={
            "account": "$.account",
            "role": "$.detail.requestParameters.roleArn",
            "who": "$.detail.userIdentity.arn",
            "source": "$.detail.requestParameters.sourceIdentity",
            "time": "$.time",
        },
        InputTemplate=(
            '"BREAK-GLASS: <who> (source identity <source>) assumed <role> in account <account> at <time>.'
            ' Every use is an incident."'
        ),
    )


def _parameters(t: Template) -> tuple[Parameter, Parameter, Parameter]:
    """The role ARN suffix, the organization, who is paged."""
    suffix = t.add_parameter(
        Parameter(
            SUFFIX_PARAMETER,
            Type="String",
            Default=":role/emergency/BreakGlass",
            AllowedPattern="^:role/([\\x21-\\x7E]*/)?[\\w+=,.@-]+$",
            Description="The break-glass role's ARN ends with this (:role<path><name>)",
        )
    )
    org = t.add_parameter(
        Parameter(
            "BreakGlassOrganizationId",
            Type="String",
            AllowedPattern="^o-[a-z0-9]{10,32}$",
            Description="The organization whose accounts may forward break-glass events to the alarm bus",
        )
    )
    email = t.add_parameter(
        Parameter(
            "BreakGlassAlarmEmail",
            Type="String",
            Default="",
            Description="Who is told when someone assumes the break-glass role (empty: subscribe later)",
        )
    )
    t.add_condition("HasBreakGlassAlarmEmail", {"Fn::Not": [{"Fn::Equals": [Ref(email), ""]}]})
    return suffix, org, email


def _bus(t: Template, org: Parameter) -> tuple[events.EventBus, Any]:
    """The bus member accounts forward to, open to the organization's accounts only."""
    bus_name = Sub(BUS_NAME.format(project="${Project}"))
    bus = t.add_resource(events.EventBus("BreakGlassBus", Name=bus_name))
    # Cross-account delivery: the receiving bus's policy names who may put events
    # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-perms.html); aws:PrincipalOrgID
    # admits the organization's accounts and nobody else.
    t.add_resource(
        events.EventBusPolicy(
            "BreakGlassBusPolicy",
            # The name rather than Ref (the same value): moto's stack engine resolves a Ref of a bus to its
            # model object, which its events backend cannot take. The GetAtt below orders the two.
            EventBusName=bus_name,
            StatementId="OrganizationForwardsBreakGlass",
            Statement={
                "Sid": "OrganizationForwardsBreakGlass",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "events:PutEvents",
                "Resource": GetAtt(bus, "Arn"),
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": Ref(org)}},
            },
        )
    )
    return bus, bus_name


def _topic(t: Template, key: Any, email: Parameter) -> sns.Topic:
    topic = t.add_resource(
        sns.Topic(
            "BreakGlassAlarmTopic", DisplayName="Break-glass role assumed", KmsMasterKeyId=GetAtt(key, "Arn")
        )
    )
    t.add_resource(email_subscription("BreakGlassAlarmTopicEmail", topic, email, "HasBreakGlassAlarmEmail"))
    t.add_resource(
        topic_policy(
            topic,
            [events_publish(topic)],
        )
    )
    return topic


def add_central_alarm(t: Template, key: Any) -> sns.Topic:
    """In the org pipeline stack (management account): the bus member accounts forward to, a rule on it and
    one on the account's own default bus, and the topic they page."""
    suffix, org, email = _parameters(t)
    bus, bus_name = _bus(t, org)
    topic = _topic(t, key, email)
    for title, on_bus, where in (
        ("BreakGlassForwardedRule", bus_name, "in a member account (forwarded)"),
        ("BreakGlassManagementRule", "default", "in the management account"),
    ):
        t.add_resource(
            events.Rule(
                title,
                Description=f"Someone assumed the break-glass role {where}: page the alarm topic",
                EventBusName=on_bus,
                DependsOn=[bus],
                EventPattern=assume_role_pattern(Ref(suffix)),
                Targets=[events.Target(Id="Alarm", Arn=Ref(topic), InputTransformer=_message())],
            )
        )
    t.add_output(Output("BreakGlassAlarmTopicArn", Value=Ref(topic)))
    t.add_output(Output("BreakGlassBusArn", Value=GetAtt(bus, "Arn")))
    return topic


def central_bus_arn(management_account: str, region: str, project: str) -> Any:
    return Sub(
        f"arn:${{AWS::Partition}}:events:{region}:{management_account}:event-bus/"
        + BUS_NAME.format(project=project)
    )


def add_forwarder(t: Template, role_arn_suffix: str, bus_arn: Any) -> None:
    """In a break-glass role's StackSet template (every account that has the role): forward its
    assumptions to the central bus. A rule targeting another account's bus uses a role that may
    events:PutEvents on that bus (Sending and receiving events between AWS accounts in Amazon EventBridge,
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html)."""
    forwarder = t.add_resource(
        role_with_policy(
            "BreakGlassForwarderRole",
            "EventBridge forwards break-glass role assumptions to the organization's alarm bus",
            service_trust("events.amazonaws.com"),
            [
                Statement(
                    Sid="ForwardToAlarmBus",
                    Effect=Allow,
                    Action=[events_actions.PutEvents],
                    Resource=[bus_arn],
                )
            ],
        )
    )
    t.add_resource(
        events.Rule(
            "BreakGlassForwardRule",
            Description="Someone assumed the break-glass role here: forward it to the organization's alarm bus",
            EventPattern=assume_role_pattern(role_arn_suffix),
            Targets=[events.Target(Id="AlarmBus", Arn=bus_arn, RoleArn=GetAtt(forwarder, "Arn"))],
        )
    )
