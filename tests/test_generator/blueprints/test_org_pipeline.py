"""The org pipeline stack: stages, sources, the trusted plan and approval, roles (least privilege), the
embedded buildspec (its branch check run for real), packaging."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from generator.blueprints import org_pipeline
from generator.blueprints.base import RenderContext
from generator.package import build_zip, lambda_sources, package_lambda
from generator.render import render_all
from pipeline.core.runstate import ORG_EVENTS
from pipeline.job import PLAN_STAGE


@pytest.fixture(scope="module")
def template(root: Path) -> dict:
    rendered = render_all(RenderContext(root=root), [org_pipeline.BLUEPRINT])
    return yaml.safe_load(rendered["org/pipeline.yaml"])


def _stages(template: dict) -> list:
    return template["Resources"]["Pipeline"]["Properties"]["Stages"]


def test_stages_in_order_with_optional_approval(template: dict) -> None:
    stages = _stages(template)
    assert [s["Name"] for s in stages if "Name" in s] == ["Source", "Build", "Plan", "Sync"]
    approval = stages[3]["Fn::If"]
    assert approval[0] == "ApprovalEnabled" and approval[2] == {"Ref": "AWS::NoValue"}
    assert approval[1]["Name"] == "Approve"
    action = approval[1]["Actions"][0]
    assert action["ActionTypeId"] == {
        "Category": "Approval",
        "Owner": "AWS",
        "Provider": "Manual",
        "Version": "1",
    }
    assert action["Configuration"]["NotificationArn"] == {"Ref": "ApprovalTopic"}
    # The approval carries the trusted plan's summary, link and the artifact's sha256, never the build's.
    assert action["Configuration"]["CustomData"] == (
        "Approving runs exactly the artifact with sha256 #{PlanVariables.ARTIFACT_SHA256} "
        "(the Sync action refuses any other). #{PlanVariables.PLAN_SUMMARY}"
    )
    assert action["Configuration"]["ExternalEntityLink"] == "#{PlanVariables.PLAN_URL}"
    assert "BuildVariables" not in json.dumps(template)
    assert template["Conditions"]["ApprovalEnabled"] == {"Fn::Equals": [{"Ref": "ApprovalRequired"}, "true"]}


def test_artifacts_flow_source_to_build_to_plan_to_sync(template: dict) -> None:
    source, build, plan, _, sync = _stages(template)
    assert source["Actions"][0]["OutputArtifacts"] == [{"Name": "Source"}]
    assert build["Actions"][0]["InputArtifacts"] == [{"Name": "Source"}]
    assert build["Actions"][0]["OutputArtifacts"] == [{"Name": "Build"}]
    assert build["Actions"][0]["ActionTypeId"]["Provider"] == "CodeBuild"
    assert sync["Actions"][0]["InputArtifacts"] == [{"Name": "Build"}]
    assert sync["Actions"][0]["ActionTypeId"] == {
        "Category": "Invoke",
        "Owner": "AWS",
        "Provider": "Lambda",
        "Version": "1",
    }
    # The Sync action runs only the artifact the Plan action hashed (and the approval showed).
    assert sync["Actions"][0]["Configuration"] == {
        "FunctionName": {"Ref": "SyncFunction"},
        "UserParameters": '{"approved_sha256": "#{PlanVariables.ARTIFACT_SHA256}", '
        '"org_walk": "#{PlanVariables.ORG_WALK}"}',
    }
    # The plan is the packaged sync's (the same trusted function), of the same Build artifact.
    [action] = plan["Actions"]
    assert (action["Namespace"], action["InputArtifacts"]) == ("PlanVariables", [{"Name": "Build"}])
    assert action["ActionTypeId"] == sync["Actions"][0]["ActionTypeId"]
    assert action["Configuration"] == {
        "FunctionName": {"Ref": "SyncFunction"},
        "UserParameters": '{"execution": "#{codepipeline.PipelineExecutionId}", "mode": "plan"}',
    }


def test_source_provider_is_chosen_by_parameter(template: dict) -> None:
    action = _stages(template)[0]["Actions"][0]
    providers = action["ActionTypeId"]["Fn::If"]
    assert providers[0] == "UseGitHub" and providers[1]["Provider"] == "CodeStarSourceConnection"
    assert providers[2]["Fn::If"][1]["Provider"] == "CodeCommit"
    assert providers[2]["Fn::If"][2]["Provider"] == "S3"
    github = action["Configuration"]["Fn::If"][1]
    assert github["ConnectionArn"] == {"Ref": "ConnectionArn"}
    assert github["FullRepositoryId"] == {"Ref": "FullRepositoryId"}
    assert github["BranchName"] == {"Ref": "BranchName"}
    assert template["Parameters"]["SourceProvider"]["AllowedValues"] == ["GitHub", "CodeCommit", "S3"]
    assert template["Resources"]["Pipeline"]["Properties"]["PipelineType"] == "V2"


def test_bucket_is_encrypted_versioned_private_tls_only_and_expires(template: dict) -> None:
    bucket = template["Resources"]["ArtifactBucket"]["Properties"]
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] == "aws:kms"
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == {
        "Ref": "ArtifactRetentionDays"
    }
    statement, plans = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    # Plans and the sync's run state are written by the sync's role only: nobody else may put, replace
    # or delete one.
    assert (plans["Effect"], plans["Principal"], plans["Resource"]) == (
        "Deny",
        "*",
        [{"Fn::Sub": "${ArtifactBucket.Arn}/plans/*"}, {"Fn::Sub": "${ArtifactBucket.Arn}/sync-state/*"}],
    )
    assert {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(plans["Action"])
    assert plans["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["SyncRole", "Arn"]}}}


def _cloudtrail_event(name: str, kind: str = "AWS API Call via CloudTrail", **detail: str) -> dict:
    return {
        "version": "0",
        "source": "aws.organizations",
        "detail-type": kind,
        "account": "111111111111",
        "region": "us-east-1",
        "detail": {"eventSource": "organizations.amazonaws.com", "eventName": name, **detail},
    }


def test_the_watcher_matches_changes_and_not_failed_calls(template: dict) -> None:
    """The rendered rule's pattern, through moto's EventBridge pattern matcher: a rename and a member that
    joined start a run; a refused deletion (CloudTrail records it, with its errorCode) and a call that
    changes nothing do not."""
    from moto.events.models import EventPattern

    pattern = EventPattern(
        None, template["Resources"]["OrganizationWatcherRule"]["Properties"]["EventPattern"]
    )
    assert pattern.matches_event(_cloudtrail_event("UpdateOrganizationalUnit"))
    assert pattern.matches_event(
        _cloudtrail_event("AccountJoinedOrganization", "AWS Service Event via CloudTrail")
    )
    assert pattern.matches_event(_cloudtrail_event("DeleteOrganizationalUnit"))
    refused = _cloudtrail_event("DeleteOrganizationalUnit", errorCode="OrganizationalUnitNotEmptyException")
    assert not pattern.matches_event(refused)
    assert not pattern.matches_event(_cloudtrail_event("TagResource"))


def test_watchers_and_notifications(template: dict) -> None:
    watcher = template["Resources"]["OrganizationWatcherRule"]["Properties"]
    assert watcher["EventPattern"]["source"] == ["aws.organizations"]
    # Every event after which the sync's stored walks are stale, renames, deletions, removals and closures
    # among them: a walk kept past one of these would plan from an organization that no longer exists.
    assert watcher["EventPattern"]["detail"]["eventName"] == list(ORG_EVENTS)
    assert {
        "MoveAccount",
        "CreateAccountResult",
        "AccountJoinedOrganization",
        "RemoveAccountFromOrganization",
        "AccountDepartedOrganization",
        "CloseAccountResult",
        "CreateOrganizationalUnit",
        "UpdateOrganizationalUnit",
        "DeleteOrganizationalUnit",
    } <= set(ORG_EVENTS)
    # Events go to the debouncing function (pipeline.job.waiting_execution), never straight to the pipeline,
    # and to the sync, whose stored walks are stale from then on.
    assert watcher["Targets"] == [
        {"Id": "StartPipeline", "Arn": {"Fn::GetAtt": ["OrgEventsFunction", "Arn"]}},
        {"Id": "MarkWalksStale", "Arn": {"Fn::GetAtt": ["SyncFunction", "Arn"]}},
    ]
    function = template["Resources"]["OrgEventsFunction"]["Properties"]
    assert function["Environment"]["Variables"] == {"PIPELINE_NAME": {"Ref": "Pipeline"}}
    assert function["Handler"] == template["Resources"]["SyncFunction"]["Properties"]["Handler"]
    permission = template["Resources"]["OrgEventsInvokePermission"]["Properties"]
    assert (permission["Principal"], permission["SourceArn"]) == (
        "events.amazonaws.com",
        {"Fn::GetAtt": ["OrganizationWatcherRule", "Arn"]},
    )
    stages = [s.get("Name") for s in template["Resources"]["Pipeline"]["Properties"]["Stages"]]
    assert stages.index(PLAN_STAGE) == stages.index("Build") + 1  # the stage the debounce looks for
    assert template["Resources"]["Pipeline"]["Properties"]["ExecutionMode"] == "QUEUED"
    result = template["Resources"]["PipelineResultRule"]["Properties"]
    assert result["EventPattern"]["detail"]["state"] == ["SUCCEEDED", "FAILED"]
    assert result["Targets"][0]["Arn"] == {"Ref": "NotificationTopic"}


def _role_statements(template: dict) -> dict[str, list[dict]]:
    out = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            out[name] = [
                s for p in resource["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]
            ]
    return out


def test_no_role_has_iam_star_or_action_star(template: dict) -> None:
    for role, statements in _role_statements(template).items():
        for s in statements:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            assert not [a for a in actions if a in ("*", "iam:*") or a.endswith(":*")], role


# CloudFormation actions with no resource type (Service Authorization Reference, AWS CloudFormation).
UNSCOPED_CLOUDFORMATION = ("cloudformation:ListStackSets", "cloudformation:DescribeStackDriftDetectionStatus")


def test_stackset_actions_are_scoped_to_the_prefix(template: dict) -> None:
    for role, statements in _role_statements(template).items():
        for s in statements:
            if any(a.startswith("cloudformation:") and a not in UNSCOPED_CLOUDFORMATION for a in s["Action"]):
                for resource in s["Resource"]:
                    sub = resource["Fn::Sub"]
                    arn = sub[0] if isinstance(sub, list) else sub
                    assert "${StackSetPrefix}-" in arn or "type/resource/AWS-IAM-" in arn, role


def test_the_buildspec_is_the_templates_not_the_repositorys(template: dict, root: Path) -> None:
    """CodeBuild gets the buildspec text from the stack; no buildspec file is read from the commit."""
    spec_text = template["Resources"]["Build"]["Properties"]["Source"]["BuildSpec"]
    assert spec_text == (root / "generator/blueprints/buildspecs/org-pipeline.yml").read_text()
    assert not (root / "buildspec.yml").exists()
    spec = yaml.safe_load(spec_text)
    commands = " && ".join(c for phase in spec["phases"].values() for c in phase["commands"])
    for step in ("merge-base --is-ancestor", "generator render --check", "generator lint", "pytest"):
        assert step in commands
    # The plan is no longer the build's: it neither plans nor exports a plan, nor writes plans/.
    assert (
        "pipeline plan" not in commands
        and "plans/" not in commands
        and "exported-variables" not in spec["env"]
    )
    assert spec["artifacts"]["files"] == ["templates/**/*", "diff.md", "lint.sarif"]
    variables = template["Resources"]["Build"]["Properties"]["Environment"]["EnvironmentVariables"]
    assert {v["Name"]: v["Value"] for v in variables} == {
        "BRANCH_NAME": {"Ref": "BranchName"},
        "SOURCE_PROVIDER": {"Ref": "SourceProvider"},
    }


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A clone of a repository with a commit on main and one on an unmerged branch (a revision override)."""
    origin = tmp_path_factory.mktemp("origin")
    _git(origin, "init", "-q", "-b", "main")
    _git(origin, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "main")
    on_main = _git(origin, "rev-parse", "HEAD")
    _git(origin, "checkout", "-q", "-b", "attacker")
    _git(origin, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "evil")
    unmerged = _git(origin, "rev-parse", "HEAD")
    clone = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    _git(clone, "checkout", "-q", unmerged)
    return clone, on_main, unmerged


@pytest.mark.parametrize(
    ("which", "provider", "ok"),
    [
        ("main", "GitHub", True),
        ("unmerged", "GitHub", False),
        ("unmerged", "CodeCommit", False),
        ("unmerged", "S3", True),
    ],
)
def test_the_build_fails_when_the_revision_is_not_on_the_branch(
    template: dict, clone: tuple[Path, str, str], which: str, provider: str, ok: bool
) -> None:
    """The branch check, run as CodeBuild runs it: a commit of another branch (StartPipelineExecution with a
    sourceRevisions override) fails the build before any of its code runs."""
    repo, on_main, unmerged = clone
    spec = yaml.safe_load(template["Resources"]["Build"]["Properties"]["Source"]["BuildSpec"])
    check = spec["phases"]["install"]["commands"][0]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
        "BRANCH_NAME": "main",
        "SOURCE_PROVIDER": provider,
        "CODEBUILD_RESOLVED_SOURCE_VERSION": on_main if which == "main" else unmerged,
    }
    proc = subprocess.run(
        ["bash", "-c", check], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    assert (proc.returncode == 0) == ok, proc.stderr
    if not ok:
        assert proc.stderr.strip() == f"refusing to build {unmerged}: it is not on branch main"


def test_the_build_role_cannot_plan_or_write_plans(template: dict) -> None:
    """The build runs the commit's code: no organization or StackSet reads (the plan is the Plan action's),
    and an explicit deny on plans/."""
    [policy] = template["Resources"]["BuildRole"]["Properties"]["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    actions = {a for s in statements if s["Effect"] == "Allow" for a in s["Action"]}
    assert not [a for a in actions if a.startswith(("organizations:", "cloudformation:"))]
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    assert (
        deny["Resource"]
        == [{"Fn::Sub": "${ArtifactBucket.Arn}/plans/*"}, {"Fn::Sub": "${ArtifactBucket.Arn}/sync-state/*"}]
        and "s3:PutObject" in deny["Action"]
    )


def test_the_guardrails_are_stack_parameters_handed_to_the_sync(template: dict) -> None:
    params = template["Parameters"]
    assert "Default" not in params["LoginAccountId"]  # no deploy without naming the login account
    assert (
        params["TrustedAccountIds"]["Type"] == params["BreakGlassRoleNames"]["Type"] == "CommaDelimitedList"
    )
    assert (
        params["MaxSessionDurationSeconds"]["MinValue"],
        params["MaxSessionDurationSeconds"]["MaxValue"],
    ) == (
        3600,
        43200,
    )
    variables = template["Resources"]["SyncFunction"]["Properties"]["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if k.startswith(("GUARDRAIL_", "PLAN_"))} == {
        "GUARDRAIL_LOGIN_ACCOUNT_ID": {"Ref": "LoginAccountId"},
        "GUARDRAIL_TRUSTED_ACCOUNT_IDS": {"Fn::Join": [",", {"Ref": "TrustedAccountIds"}]},
        "GUARDRAIL_BREAK_GLASS_ROLES": {"Fn::Join": [",", {"Ref": "BreakGlassRoleNames"}]},
        "GUARDRAIL_MAX_SESSION_SECONDS": {"Ref": "MaxSessionDurationSeconds"},
        "PLAN_BUCKET": {"Ref": "ArtifactBucket"},
    }


def test_packaging_is_byte_identical(tmp_path: Path, root: Path) -> None:
    first = package_lambda(root, tmp_path / "a.zip")
    second = package_lambda(root, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert first.sha256 == second.sha256 and first.size == second.size


def test_packaging_ignores_timestamps_and_caches(tmp_path: Path, root: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(root / "pipeline", copy / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    before = build_zip(copy, lambda_sources(copy))
    for p in (copy / "pipeline").rglob("*.py"):
        p.touch()
    (copy / "pipeline" / "__pycache__").mkdir(exist_ok=True)
    (copy / "pipeline" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    assert build_zip(copy, lambda_sources(copy)) == before
    names = zipfile.ZipFile(io.BytesIO(before)).namelist()
    assert names == sorted(names) and "pipeline/__init__.py" in names
    assert all(not n.endswith(".pyc") for n in names)
    assert not [n for n in names if n.startswith("pipeline/emulator/")]
    assert "pipeline/handler.py" in names


def test_the_drift_check_runs_on_a_schedule_and_only_this_rule_may_invoke_the_sync(template: dict) -> None:
    """DriftCheckRule sends the constant {"action": "drift"} to the sync Lambda on DriftCheckSchedule (both
    only with DriftCheckEnabled); the Lambda permission's SourceArn is that rule, and the target has no
    RoleArn (EventBridge reaches Lambda through the function's resource-based policy)."""
    resources, params = template["Resources"], template["Parameters"]
    assert (params["DriftCheckSchedule"]["Default"], params["DriftCheckEnabled"]["Default"]) == (
        "rate(1 day)",
        "true",
    )
    assert template["Conditions"]["DriftCheckOn"] == {"Fn::Equals": [{"Ref": "DriftCheckEnabled"}, "true"]}
    rule = resources["DriftCheckRule"]
    assert rule["Condition"] == "DriftCheckOn" and rule["Type"] == "AWS::Events::Rule"
    assert rule["Properties"]["ScheduleExpression"] == {"Ref": "DriftCheckSchedule"}
    assert "EventPattern" not in rule["Properties"]
    [target] = rule["Properties"]["Targets"]
    assert target == {
        "Arn": {"Fn::GetAtt": ["SyncFunction", "Arn"]},
        "Id": "SyncDriftCheck",
        "Input": '{"action": "drift"}',
    }
    permission = resources["DriftCheckInvokePermission"]
    assert permission == {
        "Condition": "DriftCheckOn",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "SyncFunction"},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": ["DriftCheckRule", "Arn"]},
        },
        "Type": "AWS::Lambda::Permission",
    }
    # The Lambda finds the approved artifact in its own pipeline's history, by the pipeline's name.
    env = resources["SyncFunction"]["Properties"]["Environment"]["Variables"]
    assert env["PIPELINE_NAME"] == {"Fn::Sub": "${Project}-pipeline"}
    assert resources["Pipeline"]["Properties"]["Name"] == env["PIPELINE_NAME"]


@pytest.mark.parametrize(
    ("expression", "valid"),
    [
        ("rate(1 day)", True),
        ("rate(12 hours)", True),
        ("rate(1 minute)", True),
        ("cron(0 6 * * ? *)", True),
        ("rate(1 days)", False),  # a value of 1 takes the singular unit
        ("rate(5 hour)", False),  # and a value over 1 the plural
        ("rate(0 minutes)", False),
        ("rate(1 week)", False),
        ("cron(0 6 * * ?)", False),  # six fields
        ("", False),
    ],
)
def test_the_drift_schedule_takes_eventbridge_expressions_only(
    template: dict, expression: str, valid: bool
) -> None:
    import re

    pattern = template["Parameters"]["DriftCheckSchedule"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, expression)) is valid


def test_the_watcher_tells_the_sync_and_the_sync_times_out_from_limits(template: dict) -> None:
    """Organizations events also go to the sync (they make its stored walks stale), invoked through a
    resource policy for this rule only; the sync's Timeout is pipeline.core.limits'."""
    from pipeline.core import limits

    targets = template["Resources"]["OrganizationWatcherRule"]["Properties"]["Targets"]
    assert [t["Id"] for t in targets] == ["StartPipeline", "MarkWalksStale"]
    assert targets[1]["Arn"] == {"Fn::GetAtt": ["SyncFunction", "Arn"]}
    permission = template["Resources"]["WatcherInvokesSync"]["Properties"]
    assert permission == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Ref": "SyncFunction"},
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": ["OrganizationWatcherRule", "Arn"]},
    }
    timeout = template["Resources"]["SyncFunction"]["Properties"]["Timeout"]
    assert timeout == limits.SYNC_LAMBDA_TIMEOUT_SECONDS <= limits.LAMBDA_TIMEOUT_MAX_SECONDS
