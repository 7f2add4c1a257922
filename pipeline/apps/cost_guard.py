"""Cost guard Lambda: when its billing alarm enters ALARM, set one Auto Scaling group's min, max and desired to 0.

Shipped inline (CloudFormation Code.ZipFile, 4,096 characters at most): standard library and boto3 only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import boto3

SOURCE = "aws.cloudwatch"
DETAIL_TYPE = "CloudWatch Alarm State Change"


class InvalidEvent(ValueError):
    """The event is not an EventBridge CloudWatch alarm state change."""


@dataclass(frozen=True)
class Decision:
    stop: bool
    reason: str


def decide(event: Any, alarm_name: str) -> Decision:
    """Pure: whether this event means the cost guard alarm is in ALARM; InvalidEvent if malformed."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"event is a {type(event).__name__}, not a JSON object")
    got = (event.get("source"), event.get("detail-type"))
    if got != (SOURCE, DETAIL_TYPE):
        raise InvalidEvent(
            f"expected source {SOURCE!r} and detail-type {DETAIL_TYPE!r}, got {got[0]!r} and {got[1]!r}"
        )
    detail = event.get("detail")
    name = detail.get("alarmName") if isinstance(detail, dict) else None
    state = detail.get("state") if isinstance(detail, dict) else None
    value = state.get("value") if isinstance(state, dict) else None
    if not isinstance(name, str) or not isinstance(value, str):
        raise InvalidEvent("detail.alarmName or detail.state.value is missing")
    if name != alarm_name:
        return Decision(False, f"alarm {name!r} is not the cost guard alarm {alarm_name!r}")
    if value != "ALARM":
        return Decision(False, f"alarm {name!r} is {value}, not ALARM")
    return Decision(True, f"alarm {name!r} is in ALARM")


def scale_to_zero(client: Any, group: str) -> None:
    """Min, max and desired all to 0: the group terminates its instances and launches none."""
    client.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=0, MaxSize=0, DesiredCapacity=0)


def guard(event: Any, alarm_name: str, group: str, client: Any) -> dict[str, Any]:
    """Decide, then act through the given autoscaling client; the result says what happened and why."""
    decision = decide(event, alarm_name)
    if decision.stop:
        scale_to_zero(client, group)
    return {"group": group, "scaled_to_zero": decision.stop, "reason": decision.reason}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point; configuration comes from the environment the template sets."""
    env = os.environ
    client = boto3.client("autoscaling", region_name=env["GROUP_REGION"])
    try:
        result = guard(event, env["ALARM_NAME"], env["GROUP_NAME"], client)
    except InvalidEvent as err:
        # Raised, not returned: a Lambda error shows in its Errors metric, which has its own alarm.
        print(json.dumps({"scaled_to_zero": False, "error": str(err)}))
        raise
    print(json.dumps(result))
    return result
