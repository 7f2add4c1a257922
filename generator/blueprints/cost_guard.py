"""Blueprint: a cost guard (billing alarm -> EventBridge rule -> Lambda setting an Auto Scaling group to 0)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import awacs.autoscaling as autoscaling_actions
from awacs.aws import Allow, Statement
from troposphere import (
    Equals,
    GetAtt,
    If,
    Output,
    Parameter,
    Ref,
    Sub,
    Template,
    awslambda,
    cloudwatch,
    events,
    iam,
    logs,
    sns,
)

from generator.blueprints.base import Blueprint, RenderContext, apply_tags, new_template, standard_tags
from generator.blueprints.parts.alerts import (
    BILLING_REGION,
    add_alert_topic,
    add_billing_alarm,
    lambda_errors_alarm,
)
from generator.blueprints.parts.iam import role_with_policy, service_trust
from generator.blueprints.parts.kms_logs import add_log_group, log_retention_parameter, write_logs
from generator.blueprints.parts.lambdas import invoked_by_rule, python_function
from generator.blueprints.parts.metadata import checkov_skips
from generator.blueprints.parts.operator_guards import billing_alarm_name
from generator.errors import GeneratorError

PATH = "app/cost-guard.yaml"
LAMBDA_MODULE = "cost_guard.py"
# CloudFormation takes inline Lambda code (Code.ZipFile) up to 4,096 characters, and packages it as
# index.py: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-lambda-function-code.html
# Inline beats an S3 bucket/key pair here: the template alone is the deployable artifact, and the
# code in the template is byte for byte the tested module, so the golden test catches any drift.
ZIPFILE_LIMIT = 4096
LAMBDA_HANDLER = "index.handler"

ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"


def lambda_source() -> str:
    """The cost guard Lambda's source, read as package data (a render may use another --root)."""
    return inline_code(files("pipeline.apps").joinpath(LAMBDA_MODULE).read_text("utf-8"))


def inline_code(code: str) -> str:
    """`code` if it fits Code.ZipFile; otherwise a clear error instead of a template CloudFormation refuses."""
    if len(code) > ZIPFILE_LIMIT:
        raise GeneratorError(
            f"pipeline/apps/{LAMBDA_MODULE}: {len(code)} characters, over the {ZIPFILE_LIMIT}-character inline "
            "ZipFile limit"
        )
    return code


@dataclass(frozen=True)
class CostGuard:
    alarm: cloudwatch.Alarm
    rule: events.Rule
    function: awslambda.Function
    role: iam.Role


def group_arn(group_name: Any, region: Any) -> Sub:
    return Sub(
        "arn:${AWS::Partition}:autoscaling:${Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/${Group}",
        Region=region,
        Group=group_name,
    )


def add_cost_guard(
    t: Template,
    *,
    code: str,
    group_name: Any,
    group_region: Any,
    threshold: Parameter,
    topic: sns.Topic,
    retention: Parameter,
) -> CostGuard:
    """Billing alarm -> EventBridge rule -> Lambda that sets the group's min, max and desired to 0."""
    alarm = add_billing_alarm(
        t,
        "CostGuardAlarm",
        threshold,
        topic,
        description="Estimated charges this month passed the cost guard threshold: the Auto Scaling group goes to 0",
        # A billing alarm's name: the web service's operator policy denies silencing ${Project}-billing-*.
        alarm_name=billing_alarm_name("cost-guard"),
    )
    log_group = add_log_group(t, "CostGuardLogGroup", retention)
    role = _guard_role(t, group_arn(group_name, group_region), log_group)
    variables = {"ALARM_NAME": Ref(alarm), "GROUP_NAME": group_name, "GROUP_REGION": group_region}
    function = _guard_function(t, code, role, log_group, variables)
    rule = _alarm_rule(t, alarm, function)
    t.add_resource(
        lambda_errors_alarm(
            "CostGuardErrorsAlarm",
            "The cost guard Lambda failed: the Auto Scaling group may still be running",
            function,
            topic,
            period=300,
        )
    )
    return CostGuard(alarm=alarm, rule=rule, function=function, role=role)


def _guard_role(t: Template, group: Sub, log_group: logs.LogGroup) -> iam.Role:
    return t.add_resource(
        role_with_policy(
            "CostGuardRole",
            "Cost guard Lambda: may only set one Auto Scaling group's sizes, and write its own logs",
            service_trust("lambda.amazonaws.com"),
            [
                Statement(
                    Sid="StopTheGroup",
                    Effect=Allow,
                    Action=[autoscaling_actions.UpdateAutoScalingGroup],
                    Resource=[group],
                ),
                write_logs(log_group),
            ],
        )
    )


def _guard_function(
    t: Template, code: str, role: iam.Role, log_group: logs.LogGroup, variables: dict[str, Any]
) -> awslambda.Function:
    return t.add_resource(
        python_function(
            "CostGuardFunction",
            "Sets the Auto Scaling group's min, max and desired to 0 when the cost guard alarm fires",
            handler=LAMBDA_HANDLER,
            code=awslambda.Code(ZipFile=code),
            role=role,
            log_group=log_group,
            variables=variables,
            Timeout=30,
            MemorySize=128,
            Metadata=checkov_skips(
                (
                    "CKV_AWS_116",
                    "failures are caught by the CostGuardErrorsAlarm email, a DLQ would add a resource nobody reads",
                ),
                (
                    "CKV_AWS_117",
                    "calls only the public Auto Scaling API; a VPC would need a NAT gateway or endpoints costing more than the whole budget",
                ),
                (
                    "CKV_AWS_115",
                    "reserving concurrency fails in new accounts whose limit is 10, and one alarm fires one invocation",
                ),
                (
                    "CKV_AWS_173",
                    "the environment holds only the alarm name, group name and region, nothing secret",
                ),
            ),
        )
    )


def _alarm_rule(t: Template, alarm: cloudwatch.Alarm, function: awslambda.Function) -> events.Rule:
    """The EventBridge rule that invokes the function when the alarm enters ALARM, and its permission."""
    rule = t.add_resource(
        events.Rule(
            "CostGuardRule",
            Description="Cost guard alarm entered ALARM: invoke the cost guard Lambda",
            EventPattern={
                "source": ["aws.cloudwatch"],
                "detail-type": [ALARM_DETAIL_TYPE],
                "resources": [GetAtt(alarm, "Arn")],
                "detail": {"state": {"value": ["ALARM"]}},
            },
            State="ENABLED",
            Targets=[events.Target(Id="cost-guard", Arn=GetAtt(function, "Arn"))],
        )
    )
    t.add_resource(invoked_by_rule("CostGuardInvokePermission", function, rule))
    return rule


def build_template(code: str) -> Template:
    t, project = new_template(
        "Cost guard for one Auto Scaling group in any region: when the account's estimated charges for the "
        "month pass a threshold, a Lambda sets the group's min, max and desired to 0. Deployed in us-east-1, "
        "the only region with billing metrics.",
        project_default="webapp",
    )
    group = t.add_parameter(
        Parameter(
            "AutoScalingGroupName",
            Type="String",
            MinLength=1,
            MaxLength=255,
            Description="Name of the Auto Scaling group to stop (for example the ECS web service stack's output)",
        )
    )
    region = t.add_parameter(
        Parameter(
            "AutoScalingGroupRegion",
            Type="String",
            Default="",
            AllowedPattern="^$|^[a-z]{2}(-[a-z]+)+-[0-9]$",
            Description="Region of the Auto Scaling group; empty for this stack's region",
        )
    )
    threshold = t.add_parameter(
        Parameter(
            "CostGuardThreshold",
            Type="Number",
            # Twice the web service's 10 USD budget: a guard against runaway spend, not a monthly stop
            # (the account's estimated charges cover every service, and the budget's own emails come first).
            Default=20,
            MinValue=1,
            Description="USD: when the account's estimated charges this month pass it, the group is set to 0",
        )
    )
    retention = log_retention_parameter(t, default=365)
    # Billing metrics exist only in us-east-1: anywhere else the alarm would never leave INSUFFICIENT_DATA.
    t.add_rule(
        "BillingRegion",
        {
            "Assertions": [
                {
                    "Assert": {"Fn::Equals": [Ref("AWS::Region"), BILLING_REGION]},
                    "AssertDescription": f"Deploy the cost guard in {BILLING_REGION}: billing metrics exist only there",
                }
            ]
        },
    )
    t.add_condition("SameRegion", Equals(Ref(region), ""))
    group_region = If("SameRegion", Ref("AWS::Region"), Ref(region))
    topic = add_alert_topic(t)
    guard = add_cost_guard(
        t,
        code=code,
        group_name=Ref(group),
        group_region=group_region,
        threshold=threshold,
        topic=topic,
        retention=retention,
    )
    t.add_output(
        [
            Output("CostGuardAlarmName", Value=Ref(guard.alarm)),
            Output("CostGuardFunctionArn", Value=GetAtt(guard.function, "Arn")),
            Output("AlertTopicArn", Value=Ref(topic)),
        ]
    )
    return apply_tags(t, standard_tags(project))


def build(ctx: RenderContext) -> Mapping[str, Template]:
    return {PATH: build_template(lambda_source())}


BLUEPRINT = Blueprint(
    name="cost-guard",
    description="Billing alarm -> EventBridge rule -> Lambda that sets an Auto Scaling group's min and max to 0",
    outputs=(PATH,),
    build=build,
    module=__name__,
)
