"""Stack drift of the management-account stack (pipeline.aws.drift.detect_stack) against exact call shapes
(botocore Stubber): a detection that fails for some resources still reports what it read, and counts as not
finished; one that outlasts the caller's time is left running and reported so."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from botocore.stub import Stubber

from pipeline.aws.drift import UNFINISHED, detect_stack
from pipeline.aws.retry import Backoff
from pipeline.core.drift import MANAGEMENT_OU, DriftReport, InstanceDrift, ResourceDrift, StackSetDrift
from pipeline.core.manifest import ManagementStackSpec
from tests.support.sync import CREDS, NO_WAIT

SPEC = ManagementStackSpec(
    name="org-roles-management-account",
    template="org/management-account.yaml",
    template_sha256="0" * 64,
    parameters={},
    capabilities=("CAPABILITY_NAMED_IAM",),
    region="us-east-1",
)
STACK_ID = "arn:aws:cloudformation:us-east-1:111111111111:stack/org-roles-management-account/1"
WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def _status(detection: str, status: str, **more: object) -> dict[str, object]:
    return {
        "StackId": STACK_ID,
        "StackDriftDetectionId": detection,
        "DetectionStatus": status,
        "Timestamp": WHEN,
        **more,
    }


def test_a_detection_that_failed_for_some_resources_reports_what_it_read_and_is_unfinished() -> None:
    cf = boto3.client("cloudformation", region_name="us-east-1", **CREDS)
    with Stubber(cf) as stub:
        stub.add_response("detect_stack_drift", {"StackDriftDetectionId": "d-1"}, {"StackName": SPEC.name})
        stub.add_response(
            "describe_stack_drift_detection_status",
            _status("d-1", "DETECTION_IN_PROGRESS"),
            {"StackDriftDetectionId": "d-1"},
        )
        reason = "Failed to detect drift on resource [BillingViewer]: access denied"
        stub.add_response(
            "describe_stack_drift_detection_status",
            _status("d-1", "DETECTION_FAILED", StackDriftStatus="DRIFTED", DetectionStatusReason=reason),
            {"StackDriftDetectionId": "d-1"},
        )
        drift_row = {
            "StackId": STACK_ID,
            "LogicalResourceId": "BreakGlass",
            "PhysicalResourceId": "BreakGlass",
            "ResourceType": "AWS::IAM::Role",
            "StackResourceDriftStatus": "DELETED",
            "Timestamp": WHEN,
        }
        stub.add_response(
            "describe_stack_resource_drifts",
            {"StackResourceDrifts": [drift_row], "NextToken": "t"},
            {"StackName": SPEC.name},
        )
        stub.add_response(
            "describe_stack_resource_drifts",
            {"StackResourceDrifts": []},
            {"StackName": SPEC.name, "NextToken": "t"},
        )
        result, rows = detect_stack(
            cf, SPEC, "111111111111", poll=NO_WAIT, backoff=Backoff(sleep=lambda _s: None)
        )
    assert result == StackSetDrift(SPEC.name, "d-1", "FAILED", reason)
    assert rows == [
        InstanceDrift(
            SPEC.name,
            "BreakGlass",
            MANAGEMENT_OU,
            "111111111111",
            "us-east-1",
            "DRIFTED",
            (ResourceDrift("BreakGlass", "BreakGlass", "AWS::IAM::Role", "DELETED"),),
        )
    ]
    report = DriftReport((), tuple(rows), (result,))
    assert report.has_drift and report.unfinished == (result,)


def test_a_detection_that_outlasts_the_callers_time_is_left_running() -> None:
    cf = boto3.client("cloudformation", region_name="us-east-1", **CREDS)
    with Stubber(cf) as stub:
        stub.add_response("detect_stack_drift", {"StackDriftDetectionId": "d-2"}, {"StackName": SPEC.name})
        stub.add_response(
            "describe_stack_drift_detection_status",
            _status("d-2", "DETECTION_IN_PROGRESS"),
            {"StackDriftDetectionId": "d-2"},
        )
        result, rows = detect_stack(
            cf,
            SPEC,
            "111111111111",
            poll=NO_WAIT,
            backoff=Backoff(sleep=lambda _s: None),
            out_of_time=lambda: True,
        )
    assert (result, rows) == (StackSetDrift(SPEC.name, "d-2", "RUNNING", UNFINISHED), [])
