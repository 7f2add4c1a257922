"""The org pipeline stack: stages, sources, approval, roles (least privilege), buildspec, packaging."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from generator.blueprints import org_pipeline
from generator.blueprints.base import RenderContext
from generator.package import build_zip, lambda_sources, package_lambda
from generator.render import render_all


@pytest.fixture(scope="module")
def template(root: Path) -> dict:
    rendered = render_all(RenderContext(root=root), [org_pipeline.BLUEPRINT])
    return yaml.safe_load(rendered["org/pipeline.yaml"])


def _stages(template: dict) -> list:
    return template["Resources"]["Pipeline"]["Properties"]["Stages"]


def test_stages_in_order_with_optional_approval(template: dict) -> None:
    stages = _stages(template)
    assert [s["Name"] for s in stages if "Name" in s] == ["Source", "Build", "Sync"]
    approval = stages[2]["Fn::If"]
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
    assert action["Configuration"]["CustomData"] == "#{BuildVariables.PLAN_SUMMARY}"
    assert action["Configuration"]["ExternalEntityLink"] == "#{BuildVariables.PLAN_URL}"
    assert template["Conditions"]["ApprovalEnabled"] == {"Fn::Equals": [{"Ref": "ApprovalRequired"}, "true"]}


def test_artifacts_flow_source_to_build_to_sync(template: dict) -> None:
    source, build, _, sync = _stages(template)
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
    assert sync["Actions"][0]["Configuration"] == {"FunctionName": {"Ref": "SyncFunction"}}


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
    [statement] = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_watchers_and_notifications(template: dict) -> None:
    watcher = template["Resources"]["OrganizationWatcherRule"]["Properties"]
    assert watcher["EventPattern"]["source"] == ["aws.organizations"]
    assert watcher["EventPattern"]["detail"]["eventName"] == [
        "MoveAccount",
        "CreateOrganizationalUnit",
        "CreateAccountResult",
    ]
    assert watcher["Targets"][0]["RoleArn"] == {"Fn::GetAtt": ["WatcherRole", "Arn"]}
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


def test_stackset_actions_are_scoped_to_the_prefix(template: dict) -> None:
    for role, statements in _role_statements(template).items():
        for s in statements:
            if any(
                a.startswith("cloudformation:") and a != "cloudformation:ListStackSets" for a in s["Action"]
            ):
                for resource in s["Resource"]:
                    sub = resource["Fn::Sub"]
                    arn = sub[0] if isinstance(sub, list) else sub
                    assert "${StackSetPrefix}-" in arn or "type/resource/AWS-IAM-" in arn, role


def test_buildspec_checks_lints_tests_and_plans(root: Path) -> None:
    spec = yaml.safe_load((root / "buildspec.yml").read_text())
    commands = " && ".join(spec["phases"]["build"]["commands"])
    for step in (
        "generator render --check",
        "generator lint",
        "pytest",
        "generator diff",
        "pipeline plan",
        "generator package",
    ):
        assert step in commands
    assert spec["env"]["exported-variables"] == ["PLAN_SUMMARY", "PLAN_URL"]
    assert "plan.md" in spec["artifacts"]["files"]


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
