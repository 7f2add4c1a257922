"""The cost guard: its Lambda against moto's Auto Scaling, the code it ships inline, and its template."""

from __future__ import annotations

import ast
import json
import re
import sys
import types
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from generator.blueprints import cost_guard as blueprint
from generator.blueprints.base import RenderContext
from generator.errors import GeneratorError
from pipeline.apps import cost_guard
from pipeline.apps.cost_guard import Decision, InvalidEvent, decide, guard
from tests.support.paths import ROOT

REGION = "eu-west-1"
GROUP = "webapp-web"
ALARM = "webapp-CostGuardAlarm-ABC123"
ALARM_ARN = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{ALARM}"


def alarm_event(state: str = "ALARM", name: str = ALARM) -> dict[str, Any]:
    """An EventBridge 'CloudWatch Alarm State Change' event, as AWS documents it."""
    return {
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2024-05-01T06:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {
                "value": state,
                "reason": "Threshold Crossed",
                "timestamp": "2024-05-01T06:00:00.000+0000",
            },
            "previousState": {"value": "OK", "timestamp": "2024-04-30T06:00:00.000+0000"},
            "configuration": {"description": "cost guard"},
        },
    }


def without(key: str) -> dict[str, Any]:
    event = alarm_event()
    del event[key]
    return event


def with_detail(detail: Any) -> dict[str, Any]:
    event = alarm_event()
    event["detail"] = detail
    return event


# ---------------------------------------------------------------------------------------------------------
# The pure decision


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (alarm_event(), Decision(True, f"alarm '{ALARM}' is in ALARM")),
        (alarm_event("OK"), Decision(False, f"alarm '{ALARM}' is OK, not ALARM")),
        (
            alarm_event("INSUFFICIENT_DATA"),
            Decision(False, f"alarm '{ALARM}' is INSUFFICIENT_DATA, not ALARM"),
        ),
        (
            alarm_event(name="someone-elses-alarm"),
            Decision(False, f"alarm 'someone-elses-alarm' is not the cost guard alarm '{ALARM}'"),
        ),
    ],
    ids=["alarm", "ok", "insufficient-data", "other-alarm"],
)
def test_decide_on_well_formed_events(event: dict[str, Any], expected: Decision) -> None:
    assert decide(event, ALARM) == expected


MALFORMED = [
    ("not-an-object", ["ALARM"], "event is a list, not a JSON object"),
    (
        "wrong-source",
        {**alarm_event(), "source": "aws.ec2"},
        "expected source 'aws.cloudwatch' and detail-type 'CloudWatch Alarm State Change', "
        "got 'aws.ec2' and 'CloudWatch Alarm State Change'",
    ),
    (
        "no-detail-type",
        without("detail-type"),
        "expected source 'aws.cloudwatch' and detail-type 'CloudWatch Alarm State Change', "
        "got 'aws.cloudwatch' and None",
    ),
    ("no-detail", without("detail"), "detail.alarmName or detail.state.value is missing"),
    ("detail-not-object", with_detail("ALARM"), "detail.alarmName or detail.state.value is missing"),
    ("no-state", with_detail({"alarmName": ALARM}), "detail.alarmName or detail.state.value is missing"),
    (
        "state-not-string",
        with_detail({"alarmName": ALARM, "state": {"value": 1}}),
        "detail.alarmName or detail.state.value is missing",
    ),
]


@pytest.mark.parametrize(("event", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_decide_refuses_malformed_events_saying_why(event: Any, message: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decide(event, ALARM)
    assert str(caught.value) == message


# ---------------------------------------------------------------------------------------------------------
# Against moto's Auto Scaling


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, a region, and moto in-process: nothing leaves this process."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def autoscaling(aws: None) -> Any:
    """moto's Auto Scaling with GROUP running one instance (min 1, max 1, desired 1)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3a.micro"}
    )
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    client = boto3.client("autoscaling", region_name=REGION)
    client.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateName": "web", "Version": "$Latest"},
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        VPCZoneIdentifier=subnet,
    )
    return client


def sizes(client: Any) -> dict[str, int]:
    group = client.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    return {
        "min": group["MinSize"],
        "max": group["MaxSize"],
        "desired": group["DesiredCapacity"],
        "instances": len(group["Instances"]),
    }


RUNNING = {"min": 1, "max": 1, "desired": 1, "instances": 1}
STOPPED = {"min": 0, "max": 0, "desired": 0, "instances": 0}


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment the template gives the function."""
    monkeypatch.setenv("ALARM_NAME", ALARM)
    monkeypatch.setenv("GROUP_NAME", GROUP)
    monkeypatch.setenv("GROUP_REGION", REGION)


def test_alarm_event_takes_the_group_from_one_to_zero(autoscaling: Any, lambda_env: None) -> None:
    assert sizes(autoscaling) == RUNNING
    result = cost_guard.handler(alarm_event(), None)
    assert result == {"group": GROUP, "scaled_to_zero": True, "reason": f"alarm '{ALARM}' is in ALARM"}
    assert sizes(autoscaling) == STOPPED


def test_a_second_alarm_event_keeps_it_at_zero(autoscaling: Any, lambda_env: None) -> None:
    cost_guard.handler(alarm_event(), None)
    assert cost_guard.handler(alarm_event(), None)["scaled_to_zero"] is True
    assert sizes(autoscaling) == STOPPED


@pytest.mark.parametrize(("event", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_event_changes_nothing_and_says_why(
    autoscaling: Any, lambda_env: None, capsys: pytest.CaptureFixture[str], event: Any, message: str
) -> None:
    with pytest.raises(InvalidEvent, match=f"^{re.escape(message)}$"):
        cost_guard.handler(event, None)
    assert sizes(autoscaling) == RUNNING
    assert json.loads(capsys.readouterr().out) == {"scaled_to_zero": False, "error": message}


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (alarm_event("OK"), f"alarm '{ALARM}' is OK, not ALARM"),
        (alarm_event(name="other"), f"alarm 'other' is not the cost guard alarm '{ALARM}'"),
    ],
    ids=["back-to-ok", "other-alarm"],
)
def test_events_not_for_the_guard_change_nothing(
    autoscaling: Any, lambda_env: None, event: dict[str, Any], reason: str
) -> None:
    assert cost_guard.handler(event, None) == {"group": GROUP, "scaled_to_zero": False, "reason": reason}
    assert sizes(autoscaling) == RUNNING


def test_guard_acts_only_through_the_client_it_is_given(autoscaling: Any) -> None:
    assert guard(alarm_event(), ALARM, GROUP, autoscaling)["scaled_to_zero"] is True
    assert sizes(autoscaling) == STOPPED


# ---------------------------------------------------------------------------------------------------------
# The code the template ships


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    built = blueprint.BLUEPRINT.build(RenderContext(root=ROOT))[blueprint.PATH]
    return built.to_dict()


def test_the_template_ships_the_tested_module_inline(template: dict[str, Any]) -> None:
    code = template["Resources"]["CostGuardFunction"]["Properties"]["Code"]["ZipFile"]
    source = (ROOT / "pipeline" / "apps" / "cost_guard.py").read_text()
    assert code == source
    assert len(code) <= blueprint.ZIPFILE_LIMIT


def test_the_shipped_code_runs_as_index_handler(
    template: dict[str, Any], autoscaling: Any, lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    props = template["Resources"]["CostGuardFunction"]["Properties"]
    assert props["Handler"] == "index.handler"
    index = types.ModuleType("index")
    monkeypatch.setitem(sys.modules, "index", index)
    exec(compile(props["Code"]["ZipFile"], "index.py", "exec"), index.__dict__)
    assert index.handler(alarm_event(), None)["scaled_to_zero"] is True
    assert sizes(autoscaling) == STOPPED


def test_lambda_code_imports_only_the_standard_library_and_boto3() -> None:
    tree = ast.parse((ROOT / "pipeline" / "apps" / "cost_guard.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore"}
    assert imported - allowed == set()


def test_an_oversized_lambda_source_is_refused() -> None:
    assert blueprint.inline_code("x" * blueprint.ZIPFILE_LIMIT) == "x" * blueprint.ZIPFILE_LIMIT
    with pytest.raises(GeneratorError) as caught:
        blueprint.inline_code("x" * (blueprint.ZIPFILE_LIMIT + 1))
    assert str(caught.value) == (
        "pipeline/apps/cost_guard.py: 4097 characters, over the 4096-character inline ZipFile limit"
    )


# ---------------------------------------------------------------------------------------------------------
# The template's wiring


def test_rule_matches_alarm_state_changes_of_its_alarm_only(template: dict[str, Any]) -> None:
    rule = template["Resources"]["CostGuardRule"]["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [{"Fn::GetAtt": ["CostGuardAlarm", "Arn"]}],
        "detail": {"state": {"value": ["ALARM"]}},
    }
    assert rule["Targets"] == [{"Id": "cost-guard", "Arn": {"Fn::GetAtt": ["CostGuardFunction", "Arn"]}}]
    permission = template["Resources"]["CostGuardInvokePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["CostGuardRule", "Arn"]}


def test_rule_pattern_delivers_alarm_and_drops_ok_in_moto_eventbridge(
    template: dict[str, Any], aws: None
) -> None:
    """moto matches the pattern as EventBridge does: an ALARM event of the alarm arrives, OK does not."""
    pattern = json.loads(
        json.dumps(template["Resources"]["CostGuardRule"]["Properties"]["EventPattern"]).replace(
            json.dumps({"Fn::GetAtt": ["CostGuardAlarm", "Arn"]}), json.dumps(ALARM_ARN)
        )
    )
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="guard")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="guard", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="guard", Targets=[{"Id": "q", "Arn": queue_arn}])
    for state in ("OK", "ALARM"):
        event = alarm_event(state)
        events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Resources": event["resources"],
                    "Detail": json.dumps(event["detail"]),
                }
            ]
        )
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["detail"]["state"]["value"] for m in messages] == ["ALARM"]


def test_role_allows_only_updating_that_group_and_writing_its_logs(template: dict[str, Any]) -> None:
    role = template["Resources"]["CostGuardRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com"]},
            "Action": ["sts:AssumeRole"],
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]
    [policy] = role["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "StopTheGroup",
            "Effect": "Allow",
            "Action": ["autoscaling:UpdateAutoScalingGroup"],
            "Resource": [
                {
                    "Fn::Sub": [
                        "arn:${AWS::Partition}:autoscaling:${Region}:${AWS::AccountId}:autoScalingGroup:*:"
                        "autoScalingGroupName/${Group}",
                        {
                            "Region": {
                                "Fn::If": [
                                    "SameRegion",
                                    {"Ref": "AWS::Region"},
                                    {"Ref": "AutoScalingGroupRegion"},
                                ]
                            },
                            "Group": {"Ref": "AutoScalingGroupName"},
                        },
                    ]
                }
            ],
        },
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [{"Fn::GetAtt": ["CostGuardLogGroup", "Arn"]}],
        },
    ]


def test_function_environment_names_the_alarm_group_and_region(template: dict[str, Any]) -> None:
    props = template["Resources"]["CostGuardFunction"]["Properties"]
    assert props["Environment"]["Variables"] == {
        "ALARM_NAME": {"Ref": "CostGuardAlarm"},
        "GROUP_NAME": {"Ref": "AutoScalingGroupName"},
        "GROUP_REGION": {"Fn::If": ["SameRegion", {"Ref": "AWS::Region"}, {"Ref": "AutoScalingGroupRegion"}]},
    }
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": "CostGuardLogGroup"}}


def test_alarm_watches_estimated_charges_above_the_threshold(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["CostGuardAlarm"]["Properties"]
    assert {k: alarm[k] for k in ("Namespace", "MetricName", "Dimensions", "Statistic", "Period")} == {
        "Namespace": "AWS/Billing",
        "MetricName": "EstimatedCharges",
        "Dimensions": [{"Name": "Currency", "Value": "USD"}],
        "Statistic": "Maximum",
        "Period": 21600,
    }
    assert alarm["Threshold"] == {"Ref": "CostGuardThreshold"}
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]
    assert template["Parameters"]["CostGuardThreshold"]["Default"] == 20


def test_template_refuses_regions_without_billing_metrics(template: dict[str, Any]) -> None:
    [assertion] = template["Rules"]["BillingRegion"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}


def test_function_failures_email_the_operators(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["CostGuardErrorsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "CostGuardFunction"}}]
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]
