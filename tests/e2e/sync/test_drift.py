"""Drift detection end to end (issue 17): DetectStackSetDrift and ListStackInstanceResourceDrifts of the
StackSet emulator against the roles moto's IAM holds in each account, read by pipeline.aws.drift, and
`python -m pipeline drift --local` after `local edit-role`. Organization as in test_sync.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.aws.drift import detect_all
from pipeline.aws.organizations import read_org
from pipeline.aws.retry import Backoff
from pipeline.cli import main
from pipeline.cli.options import NO_WAIT
from pipeline.core.drift import MANAGEMENT_OU, lines, render_text
from tests.support.sync import MGMT, write_variant

DEV = "org-roles-Developer"
PROD_ACCT = "100000000008"  # Root/Workloads/Prod


def _iam_backend(account: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account]["global"]


def _detect(world: Any, run_id: str = "d1") -> Any:
    s = world.session()
    org = read_org(s.clients.organizations)
    backoff = Backoff(sleep=lambda _s: None)
    return detect_all(
        s.clients.cloudformation, world.manifest, org, run_id=run_id, poll=NO_WAIT, backoff=backoff
    )


def test_a_role_edited_by_hand_in_prod_is_one_line(make_world: Any) -> None:
    world = make_world(materialize=True)
    assert world.sync().outcome == "success"
    clean = _detect(world, "d0")
    assert [s.status for s in clean.stacksets] == ["SUCCEEDED", "SUCCEEDED"]  # the role StackSets only
    assert not clean.has_drift and {i.status for i in clean.instances} == {"IN_SYNC"}

    iam = _iam_backend(PROD_ACCT)
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_role_policy("Developer", "ByHand", json.dumps(doc))
    iam.get_role("Developer").max_session_duration = 43200
    report = _detect(world, "d1")
    assert lines(report) == [
        "Root/Workloads/Prod 100000000008 Developer: MODIFIED /MaxSessionDuration expected 1800, actual 43200",
        'Root/Workloads/Prod 100000000008 Developer: MODIFIED /Policies/0 added {"PolicyDocument": '
        '{"Statement": [{"Action": "s3:*", "Effect": "Allow", "Resource": "*"}], "Version": "2012-10-17"}, '
        '"PolicyName": "ByHand"}',
    ]
    # Drift detection is an operation that changes no instance: every one stays CURRENT.
    assert {status for _ou, status, _o in world.instances(DEV).values()} == {"CURRENT"}


def test_a_role_deleted_by_hand_is_deleted(make_world: Any) -> None:
    world = make_world(materialize=True)
    world.sync()
    iam = _iam_backend(PROD_ACCT)
    iam.delete_role("Developer")
    assert lines(_detect(world)) == ["Root/Workloads/Prod 100000000008 Developer: Role DELETED"]


def test_resource_drifts_filter_by_status_and_need_the_instance(make_world: Any) -> None:
    world = make_world(materialize=True)
    world.sync()
    _iam_backend(PROD_ACCT).get_role("Developer").path = "/hand/"
    cf = world.client("cloudformation")
    op = cf.detect_stack_set_drift(StackSetName=DEV, OperationId="drift-1")["OperationId"]
    world.service.drain()
    where = {"StackSetName": DEV, "OperationId": op, "StackInstanceRegion": "us-east-1"}
    rows = cf.list_stack_instance_resource_drifts(**where, StackInstanceAccount=PROD_ACCT)["Summaries"]
    assert [
        (r["LogicalResourceId"], r["StackResourceDriftStatus"], r["PropertyDifferences"]) for r in rows
    ] == [
        (
            "Role",
            "MODIFIED",
            [
                {
                    "PropertyPath": "/Path",
                    "ExpectedValue": "/people/",
                    "ActualValue": "/hand/",
                    "DifferenceType": "NOT_EQUAL",
                }
            ],
        )
    ]
    assert (
        cf.list_stack_instance_resource_drifts(
            **where, StackInstanceAccount=PROD_ACCT, StackInstanceResourceDriftStatuses=["IN_SYNC"]
        )["Summaries"]
        == []
    )
    drifted = cf.list_stack_instances(
        StackSetName=DEV, Filters=[{"Name": "DRIFT_STATUS", "Values": "DRIFTED"}]
    )
    assert [s["Account"] for s in drifted["Summaries"]] == [PROD_ACCT]
    with pytest.raises(cf.exceptions.StackInstanceNotFoundException):
        cf.list_stack_instance_resource_drifts(**where, StackInstanceAccount="999999999999")


def test_an_operation_in_progress_is_waited_out(make_world: Any) -> None:
    world = make_world(materialize=True)
    world.sync()
    world.client("cloudformation").detect_stack_set_drift(StackSetName=DEV, OperationId="someone-else")
    report = _detect(world)
    assert [s.status for s in report.stacksets] == ["SUCCEEDED", "SUCCEEDED"]
    refused = [a for a, name in world.service.calls if a == "DetectStackSetDrift" and name == DEV]
    assert len(refused) > 2  # someone else's, at least one refused (OperationInProgress), ours


def test_without_materialized_roles_drift_is_unknown_never_in_sync(make_world: Any) -> None:
    world = make_world()
    world.sync()
    report = _detect(world)
    # The management-account stack is a real moto stack either way (deployed through its change set).
    role_stacksets = {i.status for i in report.instances if i.ou_path != MANAGEMENT_OU}
    assert role_stacksets == {"UNKNOWN"} and not report.has_drift


def test_the_management_account_stack_is_checked_with_stack_drift(make_world: Any) -> None:
    """Service-managed StackSets never reach the management account: its roles come from a plain stack,
    checked with DetectStackDrift; a role edited there by hand is one line under (management account)."""
    world = make_world()
    assert world.sync().outcome == "success"
    clean = _detect(world, "m0")
    assert [(s.stackset, s.status) for s in clean.stacks] == [("org-roles-management-account", "SUCCEEDED")]
    assert [
        (i.ou_path, i.account, i.role, i.status) for i in clean.instances if i.ou_path == MANAGEMENT_OU
    ] == [(MANAGEMENT_OU, MGMT, "BreakGlass", "IN_SYNC")]
    _iam_backend(MGMT).get_role("BreakGlass").max_session_duration = 43200
    report = _detect(world, "m1")
    assert lines(report) == [
        f"(management account) {MGMT} BreakGlass: MODIFIED /MaxSessionDuration expected 3600, actual 43200"
    ]
    assert render_text(report).splitlines()[0] == (
        "2 StackSet(s) and 1 stack(s), 21 instance(s) checked: 1 drifted in 1 account(s), 20 unknown"
    )
    # Deleted by hand: DELETED, never in sync.
    _iam_backend(MGMT).delete_role("BreakGlass")
    assert lines(_detect(world, "m2")) == [f"(management account) {MGMT} BreakGlass: BreakGlass DELETED"]


def test_stack_drift_is_polled_until_the_detection_ends(make_world: Any) -> None:
    """DetectStackDrift only starts a detection: its results are read once DescribeStackDriftDetectionStatus
    says it ended, never at once."""
    world = make_world()
    world.sync()
    cf = world.client("cloudformation")
    detection = cf.detect_stack_drift(StackName="org-roles-management-account")["StackDriftDetectionId"]
    first = cf.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
    assert (first["DetectionStatus"], first.get("StackDriftStatus")) == ("DETECTION_IN_PROGRESS", None)
    assert (
        cf.describe_stack_resource_drifts(StackName="org-roles-management-account")["StackResourceDrifts"]
        == []
    )
    done = cf.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
    assert (done["DetectionStatus"], done["StackDriftStatus"]) == ("DETECTION_COMPLETE", "IN_SYNC")
    rows = cf.describe_stack_resource_drifts(
        StackName="org-roles-management-account", StackResourceDriftStatusFilters=["MODIFIED", "DELETED"]
    )["StackResourceDrifts"]
    assert rows == []
    # A stack that is not there (deleted, or never deployed in this account) is skipped, not unfinished.
    cf.delete_stack(StackName="org-roles-management-account")
    gone = _detect(world, "p1")
    assert [(s.status, s.reason) for s in gone.stacks] == [
        ("SKIPPED", "the stack does not exist in this account")
    ]
    assert not gone.unfinished


def test_local_edit_role_then_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Separate commands, separate moto restarts: the edit survives in the state file."""
    state = tmp_path / "state.json"
    v1 = write_variant(tmp_path / "v1")
    manifest = ["--manifest", str(v1 / "manifest.json")]
    local = [*manifest, "--local", "--local-state", str(state), "--quiet"]
    assert main(["sync", *local, "--templates", str(v1 / "templates"), "--yes"]) == 0
    capsys.readouterr()
    assert main(["drift", *local, "--exit-code"]) == 0
    assert capsys.readouterr().out == (
        "2 StackSet(s) and 1 stack(s), 21 instance(s) checked: 0 drifted in 0 account(s)\n"
    )
    edit = ["local", "edit-role", PROD_ACCT, "Developer", "--add-action", "s3:DeleteBucket"]
    assert main([*edit, *manifest, "--local-state", str(state)]) == 0
    assert capsys.readouterr().out == (
        "added s3:DeleteBucket to inline policy OutOfBand of role Developer in account 100000000008 "
        "(outside the pipeline)\n"
    )
    assert (
        main(["drift", *local, "--format", "markdown"]) == 0
    )  # drift alone is no failure without --exit-code
    assert (
        "| Root/Workloads/Prod | 100000000008 | Developer | MODIFIED /Policies/0 added "
        in capsys.readouterr().out
    )
    assert main(["drift", *local, "--exit-code", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    drifted = [i for i in report["instances"] if i["status"] == "DRIFTED"]
    assert [(i["ou_path"], i["account"], i["role"]) for i in drifted] == [
        ("Root/Workloads/Prod", PROD_ACCT, "Developer")
    ]
    assert drifted[0]["resources"][0]["differences"][0]["path"] == "/Policies/0"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["edit-role", PROD_ACCT, "Developer"],
            "error: --add-action goes with edit-role, and edit-role needs it",
        ),
        (
            ["show", "--add-action", "s3:GetObject"],
            "error: --add-action goes with edit-role, and edit-role needs it",
        ),
        (
            ["edit-role", PROD_ACCT, "Developer", "--add-action", "DeleteBucket"],
            "error: --add-action 'DeleteBucket' is not an IAM action",
        ),
        (
            ["edit-role", PROD_ACCT, "NoSuchRole", "--add-action", "s3:GetObject"],
            "error: no role NoSuchRole in account 100000000008",
        ),
    ],
)
def test_edit_role_refuses_bad_input_in_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = write_variant(tmp_path / "v1")
    assert (
        main(
            [
                "local",
                *argv,
                "--manifest",
                str(v1 / "manifest.json"),
                "--local-state",
                str(tmp_path / "s.json"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_a_template_changed_in_git_but_not_synced_is_named(make_world: Any, tmp_path: Path) -> None:
    """Desired (the manifest), deployed (the StackSet) and live: a changed template not yet synced is a
    pending sync, and drift is still measured against what is deployed."""
    world = make_world(materialize=True)
    assert world.sync().outcome == "success"
    clean = _detect(world, "v0")
    assert [(s.stackset, s.pending) for s in clean.stacksets] == [(DEV, False), ("org-roles-ReadOnly", False)]

    def comment(_data: dict[str, Any]) -> None:
        template = tmp_path / "changed" / "templates" / "org" / "roles" / "Developer.yaml"
        template.write_text(template.read_text() + "# changed in git, not synced\n")

    world.use(write_variant(tmp_path / "changed", comment))
    report = _detect(world, "v1")
    [pending] = [s for s in report.stacksets if s.pending]
    assert pending.stackset == DEV and pending.desired_sha256 != pending.deployed_sha256
    assert (
        f"  {DEV}: the deployed template (sha256 {pending.deployed_sha256[:12]}) is not the manifest's"
        in (render_text(report))
    )
    assert not report.has_drift
