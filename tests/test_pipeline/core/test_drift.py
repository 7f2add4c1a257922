"""The drift report (pipeline.core.drift): one line per drifted property, by OU, account and role."""

from __future__ import annotations

import json

from pipeline.core.drift import (
    Difference,
    DriftReport,
    InstanceDrift,
    ResourceDrift,
    StackSetDrift,
    render_json,
    render_markdown,
    render_text,
)

ADD = Difference("/Policies/0/PolicyDocument/Statement/0/Action/1", "ADD", "", "s3:DeleteBucket")
NE = Difference("/MaxSessionDuration", "NOT_EQUAL", "3600", "43200")
REMOVE = Difference("/Policies/1", "REMOVE", '{"PolicyName": "Extra"}', "")
REPORT = DriftReport(
    (
        StackSetDrift("org-roles-Developer", "op-1", "SUCCEEDED"),
        StackSetDrift("org-roles-ReadOnly", "", "SKIPPED", "the StackSet does not exist yet"),
    ),
    (
        InstanceDrift(
            "org-roles-Developer",
            "Developer",
            "Root/Workloads/Prod",
            "100000000016",
            "us-east-1",
            "DRIFTED",
            (ResourceDrift("Role", "Developer", "AWS::IAM::Role", "MODIFIED", (ADD, NE, REMOVE)),),
        ),
        InstanceDrift(
            "org-roles-Developer",
            "Developer",
            "Root/Sandbox",
            "100000000006",
            "us-east-1",
            "DRIFTED",
            (ResourceDrift("Role", "Developer", "AWS::IAM::Role", "DELETED"),),
        ),
        InstanceDrift(
            "org-roles-Developer", "Developer", "Root/Workloads/Dev", "100000000014", "us-east-1", "IN_SYNC"
        ),
        InstanceDrift(
            "org-roles-Developer", "Developer", "Root/Workloads/Dev", "100000000015", "us-east-1", "UNKNOWN"
        ),
    ),
)


def test_text_is_one_line_per_drifted_property_sorted_by_ou() -> None:
    assert render_text(REPORT) == (
        "2 StackSet(s), 4 instance(s) checked: 2 drifted in 2 account(s), 1 unknown\n"
        "  Root/Sandbox 100000000006 Developer: Role DELETED\n"
        "  Root/Workloads/Prod 100000000016 Developer: MODIFIED "
        "/Policies/0/PolicyDocument/Statement/0/Action/1 added s3:DeleteBucket\n"
        "  Root/Workloads/Prod 100000000016 Developer: MODIFIED /MaxSessionDuration expected 3600, actual 43200\n"
        '  Root/Workloads/Prod 100000000016 Developer: MODIFIED /Policies/1 removed {"PolicyName": "Extra"}\n'
        "  drift detection of org-roles-ReadOnly ended SKIPPED: the StackSet does not exist yet\n"
    )


def test_markdown_is_a_table_per_property() -> None:
    assert render_markdown(REPORT).splitlines()[4:7] == [
        "| OU | Account | Role | Drift |",
        "|---|---|---|---|",
        "| Root/Sandbox | 100000000006 | Developer | Role DELETED |",
    ]


def test_json_carries_every_instance_and_the_verdict() -> None:
    data = json.loads(render_json(REPORT))
    assert data["drifted"] is True
    assert [(i["ou_path"], i["status"]) for i in data["instances"]] == [
        ("Root/Sandbox", "DRIFTED"),
        ("Root/Workloads/Dev", "IN_SYNC"),
        ("Root/Workloads/Dev", "UNKNOWN"),
        ("Root/Workloads/Prod", "DRIFTED"),
    ]
    assert data["instances"][3]["resources"][0]["differences"][1] == {
        "path": "/MaxSessionDuration",
        "kind": "NOT_EQUAL",
        "expected": "3600",
        "actual": "43200",
    }


def test_no_drift() -> None:
    clean = DriftReport(REPORT.stacksets[:1], REPORT.instances[2:3])
    assert not clean.has_drift
    assert render_text(clean) == "1 StackSet(s), 1 instance(s) checked: 0 drifted in 0 account(s)\n"
