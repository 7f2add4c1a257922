"""The drift report (pipeline.core.drift): one line per drifted property, by OU, account and role."""

from __future__ import annotations

import json

from pipeline.core.drift import (
    Difference,
    DriftReport,
    InstanceDrift,
    ResourceDrift,
    StackSetDrift,
    notice,
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


def test_a_deployed_template_that_is_not_the_manifests_is_named_as_a_pending_sync() -> None:
    """The three views: desired (the manifest, as in git), deployed (the StackSet's template, which drift
    compares with), live (the differences). When the first two differ, the report says so."""
    desired, deployed = "a" * 64, "b" * 64
    pending = StackSetDrift("org-roles-Developer", "op-1", "SUCCEEDED", "", desired, deployed)
    same = StackSetDrift("org-roles-ReadOnly", "op-2", "SUCCEEDED", "", desired, desired)
    report = DriftReport((pending, same), ())
    assert (pending.pending, same.pending) == (True, False)
    line = (
        "org-roles-Developer: the deployed template (sha256 bbbbbbbbbbbb) is not the manifest's "
        "(aaaaaaaaaaaa): drift is against the deployed one; a sync is pending (`plan` shows it)"
    )
    assert render_text(report).splitlines()[1:] == [f"  {line}"]
    assert render_markdown(report).splitlines()[-1] == f"- {line}"
    assert json.loads(render_json(report))["stacksets"][0]["deployed_sha256"] == deployed
    # Unknown on either side (a StackSet not read): nothing claimed.
    assert not StackSetDrift("x", "", "SUCCEEDED", "", desired, "").pending


def test_notice_only_when_drifted_or_unfinished() -> None:
    assert notice(DriftReport((StackSetDrift("s", "op", "SUCCEEDED"),), ()), "ctx") is None
    skipped = DriftReport((StackSetDrift("s", "", "SKIPPED", "the StackSet does not exist yet"),), ())
    assert notice(skipped, "ctx") is None
    stopped = DriftReport((StackSetDrift("s", "op", "STOPPED"),), ())
    assert notice(stopped, "ctx") == (
        "org-stacksets drift check did not finish (1 detection(s))",
        "ctx\n" + render_text(stopped),
    )
    changed = DriftReport((StackSetDrift("s", "op", "SUCCEEDED", "", "a" * 64, "b" * 64),), ())
    assert notice(changed, "ctx") == (
        "org-stacksets drift: 1 StackSet(s) not at the approved template",
        "ctx\n" + render_text(changed),
    )
    subject, message = notice(REPORT, "ctx") or ("", "")
    assert subject == "org-stacksets drift: 2 role instance(s) drifted in 2 account(s)"
    assert message == "ctx\n" + render_text(REPORT)
