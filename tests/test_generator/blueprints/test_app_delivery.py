"""What the container pipeline and event-driven ECS deploy templates promise, read from a fresh render;
and the shipped buildspecs' shell, run for real where it computes something."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PIPELINE = "app/container-pipeline.yaml"
WORKLOAD = "app/ecs-deploy-workload.yaml"
CI = "app/ecs-deploy-ci.yaml"
OURS = (PIPELINE, WORKLOAD, CI)


@pytest.fixture(scope="module")
def templates(rendered: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    return {path: yaml.safe_load(rendered[path]) for path in OURS}


def resources(templates: dict[str, dict[str, Any]], path: str) -> dict[str, Any]:
    return templates[path]["Resources"]


def statements(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in document["Statement"] if "Sid" in s}


@pytest.mark.parametrize("path", OURS)
def test_no_full_access_policies_and_no_account_ids(rendered: dict[str, bytes], path: str) -> None:
    text = rendered[path].decode()
    assert "FullAccess" not in text
    assert re.findall(r"(?<![0-9])[0-9]{12}(?![0-9])", text) == []
    assert ":root" not in text.replace("${AWS::AccountId}:root", "")


# --- container pipeline ---------------------------------------------------------------------------------


def test_buildspecs_are_embedded_verbatim(templates: dict[str, dict[str, Any]], root: Path) -> None:
    r = resources(templates, PIPELINE)
    assert (
        r["BuildProject"]["Properties"]["Source"]["BuildSpec"]
        == (root / "pipeline/apps/buildspecs/build.yml").read_text()
    )
    assert (
        r["DeployProject"]["Properties"]["Source"]["BuildSpec"]
        == (root / "pipeline/apps/buildspecs/deploy-eks.yml").read_text()
    )


def test_stages_are_source_build_approve_deploy(templates: dict[str, dict[str, Any]]) -> None:
    stages = resources(templates, PIPELINE)["Pipeline"]["Properties"]["Stages"]
    assert [s["Name"] for s in stages] == ["Source", "Build", "Approve", "Deploy"]
    source, build, approve, deploy = (s["Actions"] for s in stages)
    assert source[0]["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source[0]["Configuration"]["ConnectionArn"] == {"Ref": "ConnectionArn"}
    assert json.loads(build[0]["Configuration"]["EnvironmentVariables"]) == [
        {"name": "COMMIT_ID", "value": "#{SourceVariables.CommitId}", "type": "PLAINTEXT"}
    ]
    assert build[0]["Namespace"] == "BuildVariables"
    assert approve[0]["ActionTypeId"] == {
        "Category": "Approval",
        "Owner": "AWS",
        "Provider": "Manual",
        "Version": "1",
    }
    assert approve[0]["Configuration"]["NotificationArn"] == {"Ref": "ApprovalTopic"}
    [choice] = deploy
    condition, ecs, eks = choice["Fn::If"]
    assert condition == "DeployToEcs"
    assert (ecs["ActionTypeId"]["Provider"], ecs["Configuration"]["FileName"]) == (
        "ECS",
        "imagedefinitions.json",
    )
    assert ecs["InputArtifacts"] == [{"Name": "Build"}]
    assert (eks["ActionTypeId"]["Provider"], eks["Configuration"]["ProjectName"]) == (
        "CodeBuild",
        {"Ref": "DeployProject"},
    )
    assert json.loads(eks["Configuration"]["EnvironmentVariables"]) == [
        {"name": "IMAGE_URI", "value": "#{BuildVariables.IMAGE_URI}", "type": "PLAINTEXT"},
        {"name": "IMAGE_TAG", "value": "#{BuildVariables.IMAGE_TAG}", "type": "PLAINTEXT"},
    ]


def test_approval_topic_emails_the_approver(templates: dict[str, dict[str, Any]]) -> None:
    topic = resources(templates, PIPELINE)["ApprovalTopic"]["Properties"]
    assert topic["Subscription"] == [{"Endpoint": {"Ref": "ApprovalEmail"}, "Protocol": "email"}]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["ArtifactKey", "Arn"]}


def test_eks_resources_exist_only_for_eks_and_ecs_permissions_only_for_ecs(
    templates: dict[str, dict[str, Any]],
) -> None:
    conditions = {
        name: r.get("Condition") for name, r in resources(templates, PIPELINE).items() if r.get("Condition")
    }
    assert conditions == {
        "DeployLogGroup": "DeployToEks",
        "DeployRole": "DeployToEks",
        "KubectlRole": "DeployToEks",
        "DeployAssumesKubectlRole": "DeployToEks",
        "KubectlAccessEntry": "DeployToEks",
        "DeployProject": "DeployToEks",
        "PipelineEksDeployPolicy": "DeployToEks",
        "PipelineEcsDeployPolicy": "DeployToEcs",
        "PipelinePassTaskRolesPolicy": "EcsPassesTaskRoles",
    }


def test_only_the_deploy_project_role_may_assume_the_kubectl_role(
    templates: dict[str, dict[str, Any]],
) -> None:
    r = resources(templates, PIPELINE)
    [trust] = r["KubectlRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": [{"Fn::GetAtt": ["DeployRole", "Arn"]}]}
    assert trust["Condition"] == {"StringLike": {"sts:RoleSessionName": "codebuild-*"}}
    [assume] = r["DeployAssumesKubectlRole"]["Properties"]["PolicyDocument"]["Statement"]
    assert (assume["Action"], assume["Resource"]) == (
        ["sts:AssumeRole"],
        [{"Fn::GetAtt": ["KubectlRole", "Arn"]}],
    )
    assert r["DeployAssumesKubectlRole"]["Properties"]["Roles"] == [{"Ref": "DeployRole"}]


def test_the_access_entry_limits_kubectl_to_the_namespace(templates: dict[str, dict[str, Any]]) -> None:
    entry = resources(templates, PIPELINE)["KubectlAccessEntry"]["Properties"]
    assert entry["PrincipalArn"] == {"Fn::GetAtt": ["KubectlRole", "Arn"]}
    [policy] = entry["AccessPolicies"]
    assert policy["AccessScope"] == {"Type": "namespace", "Namespaces": [{"Ref": "KubernetesNamespace"}]}


def test_build_role_pushes_to_one_repository(templates: dict[str, dict[str, Any]]) -> None:
    [policy] = resources(templates, PIPELINE)["BuildRole"]["Properties"]["Policies"]
    by_sid = statements(policy["PolicyDocument"])
    assert by_sid["EcrLogin"]["Resource"] == ["*"]
    assert by_sid["PushAndPull"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${RepositoryName}"}
    ]


def _buildspec_commands(root: Path, name: str) -> list[str]:
    spec = yaml.safe_load((root / "pipeline" / "apps" / "buildspecs" / name).read_text())
    return [c for phase in spec["phases"].values() for c in phase["commands"]]


@pytest.mark.parametrize(
    ("env", "tag"),
    [
        ({"COMMIT_ID": "0123456789abcdef"}, "0123456"),
        ({"COMMIT_ID": "", "CODEBUILD_RESOLVED_SOURCE_VERSION": "fedcba987654"}, "fedcba9"),
    ],
)
def test_build_tags_the_image_with_the_short_commit_and_writes_imagedefinitions(
    root: Path, tmp_path: Path, env: dict[str, str], tag: str
) -> None:
    commands = _buildspec_commands(root, "build.yml")
    tag_line = next(c for c in commands if c.startswith("IMAGE_TAG="))
    export_line = next(c for c in commands if c.startswith("export IMAGE_URI="))
    definitions = next(c for c in commands if "imagedefinitions.json" in c and c.startswith("printf"))
    script = "\n".join([tag_line, export_line, definitions, "echo $IMAGE_TAG"])
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "REPOSITORY_URI": "1.dkr.ecr.x/web", "CONTAINER_NAME": "web", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout == f"{tag}\n"
    assert json.loads((tmp_path / "imagedefinitions.json").read_text()) == [
        {"name": "web", "imageUri": f"1.dkr.ecr.x/web:{tag}"}
    ]


def test_build_exports_image_uri_and_tag(root: Path) -> None:
    spec = yaml.safe_load((root / "pipeline/apps/buildspecs/build.yml").read_text())
    assert spec["env"]["exported-variables"] == ["IMAGE_URI", "IMAGE_TAG"]
    assert spec["artifacts"]["files"] == ["imagedefinitions.json"]


def test_eks_deploy_substitutes_the_image_into_the_manifests(root: Path, tmp_path: Path) -> None:
    commands = _buildspec_commands(root, "deploy-eks.yml")
    loop = next(c for c in commands if c.startswith("for manifest"))
    manifests = tmp_path / "kube"
    manifests.mkdir()
    (manifests / "deploy.yaml").write_text("image: CONTAINER_IMAGE\n")
    (manifests / "svc.yml").write_text("kind: Service\n")
    script = loop.replace("/tmp/manifests", str(tmp_path / "out"))
    (tmp_path / "out").mkdir()
    subprocess.run(
        ["bash", "-c", script],
        env={
            "PATH": "/usr/bin:/bin",
            "MANIFESTS_PATH": str(manifests),
            "IMAGE_URI": "repo/web",
            "IMAGE_TAG": "abc1234",
        },
        check=True,
    )
    assert (tmp_path / "out" / "deploy.yaml").read_text() == "image: repo/web:abc1234\n"
    assert (tmp_path / "out" / "svc.yml").read_text() == "kind: Service\n"


def test_eks_deploy_session_name_matches_the_kubectl_role_trust(root: Path) -> None:
    commands = " ".join(_buildspec_commands(root, "deploy-eks.yml"))
    assert '--role-session-name "codebuild-${CODEBUILD_BUILD_NUMBER}"' in commands
    assert '--namespace "$KUBERNETES_NAMESPACE"' in commands


# --- event-driven ECS deploy ------------------------------------------------------------------------------


def test_only_the_ci_publisher_role_may_publish(templates: dict[str, dict[str, Any]]) -> None:
    policy = resources(templates, WORKLOAD)["DeployTopicPolicy"]["Properties"]["PolicyDocument"]
    by_sid = statements(policy)
    allow = by_sid["CiPublisherPublishes"]
    assert (allow["Effect"], allow["Principal"], allow["Action"]) == (
        "Allow",
        {"AWS": [{"Ref": "PublisherRoleArn"}]},
        ["sns:Publish"],
    )
    deny = by_sid["NobodyElsePublishes"]
    assert (deny["Effect"], deny["Principal"], deny["Condition"]) == (
        "Deny",
        "*",
        {"ArnNotEquals": {"aws:PrincipalArn": {"Ref": "PublisherRoleArn"}}},
    )
    assert [s["Effect"] for s in policy["Statement"]].count("Allow") == 1


def test_topic_is_encrypted_and_the_function_subscribes_with_a_dead_letter_queue(
    templates: dict[str, dict[str, Any]],
) -> None:
    r = resources(templates, WORKLOAD)
    assert r["DeployTopic"]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["DeployKey", "Arn"]}
    sub = r["FunctionSubscription"]["Properties"]
    assert (sub["Protocol"], sub["Endpoint"]) == ("lambda", {"Fn::GetAtt": ["DeployFunction", "Arn"]})
    assert sub["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    function = r["DeployFunction"]["Properties"]
    assert function["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    assert function["Handler"] == "ecs_deploy.handler"
    assert function["Code"] == {"S3Bucket": {"Ref": "CodeS3Bucket"}, "S3Key": {"Ref": "CodeS3Key"}}
    assert function["Environment"] == {
        "Variables": {
            "ALLOWED_REGISTRIES": {"Ref": "AllowedRegistries"},
            "CLUSTER_NAME": {"Ref": "ClusterName"},
            "TASK_FAMILY_PREFIX": {"Ref": "TaskFamilyPrefix"},
            "TOPIC_ARN": {"Ref": "DeployTopic"},
        }
    }
    assert r["DeployFunctionInvokeConfig"]["Properties"]["MaximumRetryAttempts"] == 0


def test_deploy_function_is_assumed_by_lambda_for_this_account_only_and_named_for_the_deny(
    templates: dict[str, dict[str, Any]],
) -> None:
    """Issue 13 item 9: the execution role's trust carries aws:SourceAccount; the function's name matches
    the sample roles' deny on direct invocation (function:*-ecs-deploy)."""
    r = resources(templates, WORKLOAD)
    trust = r["FunctionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [(s["Principal"], s["Condition"]) for s in trust] == [
        (
            {"Service": ["lambda.amazonaws.com"]},
            {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        )
    ]
    assert r["DeployFunction"]["Properties"]["FunctionName"] == {"Fn::Sub": "${Project}-ecs-deploy"}


def test_error_alarm_watches_the_function(templates: dict[str, dict[str, Any]]) -> None:
    alarm = resources(templates, WORKLOAD)["DeployErrorsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == ("AWS/Lambda", "Errors", 1)
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "DeployFunction"}}]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_function_role_is_limited_to_the_cluster_and_the_task_roles(
    templates: dict[str, dict[str, Any]],
) -> None:
    [policy] = resources(templates, WORKLOAD)["FunctionRole"]["Properties"]["Policies"]
    by_sid = statements(policy["PolicyDocument"])
    assert by_sid["RollClusterServices"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${ClusterName}/*"}
    ]
    assert by_sid["PassTaskRoles"]["Resource"] == {"Ref": "TaskRoleArns"}
    assert by_sid["PassTaskRoles"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    wildcard = sorted(
        a for s in policy["PolicyDocument"]["Statement"] if s["Resource"] == ["*"] for a in s["Action"]
    )
    assert wildcard == [
        "ecs:DescribeTaskDefinition",
        "ecs:ListTaskDefinitions",
        "ecs:RegisterTaskDefinition",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    ]


def test_ci_publisher_may_only_publish_to_the_topic(templates: dict[str, dict[str, Any]]) -> None:
    r = resources(templates, CI)
    by_sid = statements(r["PublisherPolicy"]["Properties"]["PolicyDocument"])
    assert sorted(by_sid) == ["EncryptThroughSns", "PublishDeploys"]
    assert (by_sid["PublishDeploys"]["Action"], by_sid["PublishDeploys"]["Resource"]) == (
        ["sns:Publish"],
        [{"Ref": "TopicArn"}],
    )
    assert list(by_sid["EncryptThroughSns"]["Condition"]["StringEquals"]) == ["kms:ViaService"]
    [trust] = r["PublisherRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Ref": "CiPrincipalArns"}}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "CiExternalId"}}}
