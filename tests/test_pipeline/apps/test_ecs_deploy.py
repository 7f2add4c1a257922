"""The ECS deploy Lambda (pipeline/apps/ecs_deploy.py): message validation, planning, and deploy and rollback
against moto's ECS in-process."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipeline.apps import ecs_deploy
from pipeline.apps.ecs_deploy import (
    DeployRequest,
    MessageError,
    NoChange,
    PlanError,
    RegisterAndUpdate,
    RollbackRequest,
    UpdateService,
    handle,
    parse_message,
    plan_deploy,
    plan_rollback,
    validate,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
REPO = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/web-task"
EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/web-exec"
DEPLOY = {"action": "deploy", "cluster": "app", "service": "web", "image": REPO, "tag": "abc1234"}
ROLLBACK = {"action": "rollback", "cluster": "app", "service": "web"}


# --- validation: every rule, with the exact reason ----------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (DEPLOY, DeployRequest("app", "web", REPO, "abc1234")),
        ({**DEPLOY, "container": "sidecar"}, DeployRequest("app", "web", REPO, "abc1234", "sidecar")),
        (
            {**DEPLOY, "image": "localhost:5000/team/web"},
            DeployRequest("app", "web", "localhost:5000/team/web", "abc1234"),
        ),
        ({**DEPLOY, "tag": "v1.2.3_rc-1"}, DeployRequest("app", "web", REPO, "v1.2.3_rc-1")),
        (ROLLBACK, RollbackRequest("app", "web")),
        ({**ROLLBACK, "revision": 7}, RollbackRequest("app", "web", 7)),
    ],
)
def test_valid_messages(message: dict[str, Any], expected: object) -> None:
    assert validate(message) == expected
    assert parse_message(json.dumps(message)) == expected


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ([], "message must be a JSON object, not list"),
        ({}, "'action' must be one of deploy, rollback, not None"),
        ({**DEPLOY, "action": "destroy"}, "'action' must be one of deploy, rollback, not 'destroy'"),
        ({"action": "deploy", "cluster": "app"}, "deploy message lacks 'service', 'image', 'tag'"),
        ({**DEPLOY, "imgae": "x"}, "deploy message has unknown key(s) 'imgae'"),
        ({**ROLLBACK, "image": REPO}, "rollback message has unknown key(s) 'image'"),
        ({**DEPLOY, "cluster": ""}, "'cluster' must be a non-empty string (an ECS cluster name), not empty"),
        (
            {**DEPLOY, "cluster": 5},
            "'cluster' must be a non-empty string (an ECS cluster name), not a number",
        ),
        ({**DEPLOY, "cluster": "app/prod"}, "'cluster' 'app/prod' is not an ECS cluster name"),
        ({**DEPLOY, "service": "web service"}, "'service' 'web service' is not an ECS service name"),
        (
            {**DEPLOY, "image": f"{REPO}:latest"},
            f"'image' '{REPO}:latest' must not carry a tag or digest: pass the tag in 'tag'",
        ),
        (
            {**DEPLOY, "image": f"{REPO}@sha256:00"},
            f"'image' '{REPO}@sha256:00' must not carry a tag or digest: pass the tag in 'tag'",
        ),
        (
            {**DEPLOY, "image": "Web/App"},
            "'image' 'Web/App' is not an image repository reference (registry/name)",
        ),
        (
            {**DEPLOY, "tag": "-abc"},
            "'tag' '-abc' is not a Docker tag (letters, digits, '_', '.', '-'; at most 128)",
        ),
        (
            {**DEPLOY, "tag": "a" * 129},
            f"'tag' '{'a' * 40}'... is 129 characters, over the limit of 128",
        ),
        ({**DEPLOY, "container": "a b"}, "'container' 'a b' is not a container name"),
        ({**ROLLBACK, "revision": 0}, "'revision' must be a positive integer, not 0"),
        ({**ROLLBACK, "revision": "3"}, "'revision' must be a positive integer, not '3'"),
        ({**ROLLBACK, "revision": True}, "'revision' must be a positive integer, not True"),
    ],
)
def test_invalid_messages_are_rejected_with_their_reason(message: Any, reason: str) -> None:
    with pytest.raises(MessageError) as err:
        validate(message)
    assert str(err.value) == reason


def test_a_message_for_another_cluster_is_rejected() -> None:
    with pytest.raises(MessageError) as err:
        validate({**DEPLOY, "cluster": "prod"}, allowed_cluster="app")
    assert str(err.value) == "cluster 'prod' is not the cluster this function deploys to ('app')"


def test_a_message_that_is_not_json_is_rejected() -> None:
    with pytest.raises(MessageError, match=r"^message is not JSON: Expecting value"):
        parse_message("deploy web please")


@pytest.mark.parametrize(
    "request_", [DeployRequest("app", "web", REPO, "t1", "web"), RollbackRequest("app", "web", 3)]
)
def test_to_message_is_the_inverse_of_validate(request_: Any) -> None:
    assert validate(ecs_deploy.to_message(request_)) == request_


# --- planning (pure) ------------------------------------------------------------------------------------

CURRENT = {
    "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:3",
    "family": "web",
    "revision": 3,
    "status": "ACTIVE",
    "cpu": "256",
    "memory": "512",
    "taskRoleArn": TASK_ROLE,
    "containerDefinitions": [
        {"name": "web", "image": f"{REPO}:old", "essential": True},
        {"name": "proxy", "image": "public.ecr.aws/nginx/nginx:1.27", "essential": True},
    ],
    "registeredAt": "2026-01-01T00:00:00Z",
    "compatibilities": ["EC2"],
}
REGISTERABLE = frozenset({"family", "cpu", "memory", "taskRoleArn", "containerDefinitions", "tags"})


def test_plan_deploy_copies_every_registerable_field_and_changes_one_image() -> None:
    step = plan_deploy(
        DeployRequest("app", "web", REPO, "new"), CURRENT, [{"key": "team", "value": "a"}], REGISTERABLE
    )
    assert step == RegisterAndUpdate(
        cluster="app",
        service="web",
        current=CURRENT["taskDefinitionArn"],
        container="web",
        image=f"{REPO}:new",
        registration={
            "family": "web",
            "cpu": "256",
            "memory": "512",
            "taskRoleArn": TASK_ROLE,
            "containerDefinitions": [
                {"name": "web", "image": f"{REPO}:new", "essential": True},
                {"name": "proxy", "image": "public.ecr.aws/nginx/nginx:1.27", "essential": True},
            ],
            "tags": [{"key": "team", "value": "a"}],
        },
    )
    assert CURRENT["containerDefinitions"][0]["image"] == f"{REPO}:old", "the input was modified"


def test_plan_deploy_of_the_running_image_changes_nothing() -> None:
    step = plan_deploy(DeployRequest("app", "web", REPO, "old"), CURRENT, [], REGISTERABLE)
    assert step == NoChange(
        "app", "web", CURRENT["taskDefinitionArn"], f"container 'web' already runs {REPO}:old"
    )


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (
            DeployRequest("app", "web", "other/repo", "t"),
            "cannot tell which container runs other/repo (containers: web, proxy); name it with 'container'",
        ),
        (
            DeployRequest("app", "web", REPO, "t", "db"),
            "task definition has no container 'db' (it has web, proxy)",
        ),
    ],
)
def test_plan_deploy_refuses_an_ambiguous_or_unknown_container(request_: DeployRequest, reason: str) -> None:
    with pytest.raises(PlanError) as err:
        plan_deploy(request_, CURRENT, [], REGISTERABLE)
    assert str(err.value) == reason


def test_plan_deploy_names_the_only_container_even_from_another_repository() -> None:
    single = {**CURRENT, "containerDefinitions": [{"name": "app", "image": "nginx:1"}]}
    step = plan_deploy(DeployRequest("app", "web", REPO, "t"), single, [], REGISTERABLE)
    assert isinstance(step, RegisterAndUpdate) and step.container == "app"


@pytest.mark.parametrize(
    ("revision", "active", "expected"),
    [
        (None, [1, 2, 3], UpdateService("app", "web", "web:3", "web:2")),
        (None, [1, 3], UpdateService("app", "web", "web:3", "web:1")),  # 2 was deregistered
        (None, [1, 2, 3, 4], UpdateService("app", "web", "web:3", "web:2")),  # after a rollback from 4
        (1, [1, 2, 3], UpdateService("app", "web", "web:3", "web:1")),
        (4, [1, 2, 3, 4], UpdateService("app", "web", "web:3", "web:4")),
        (3, [1, 2, 3], NoChange("app", "web", "web:3", "service already runs web:3")),
    ],
)
def test_plan_rollback(revision: int | None, active: list[int], expected: object) -> None:
    assert plan_rollback(RollbackRequest("app", "web", revision), "web:3", active) == expected


@pytest.mark.parametrize(
    ("revision", "active", "reason"),
    [
        (None, [3, 4], "web has no ACTIVE revision before 3 to roll back to"),
        (2, [1, 3], "web:2 is not an ACTIVE revision of web"),
    ],
)
def test_plan_rollback_refusals(revision: int | None, active: list[int], reason: str) -> None:
    with pytest.raises(PlanError) as err:
        plan_rollback(RollbackRequest("app", "web", revision), "web:3", active)
    assert str(err.value) == reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web-api_2:17", ("web-api_2", 17)),
        ("web:4", ("web", 4)),
    ],
)
def test_family_revision(text: str, expected: tuple[str, int]) -> None:
    assert ecs_deploy.family_revision(text) == expected


# --- against moto's ECS -----------------------------------------------------------------------------------


TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:app-deploy"


def sns_event(*messages: dict[str, Any] | str) -> dict[str, Any]:
    records = []
    for i, message in enumerate(messages):
        body = message if isinstance(message, str) else json.dumps(message)
        records.append(
            {"EventSource": "aws:sns", "Sns": {"MessageId": f"m-{i}", "Message": body, "TopicArn": TOPIC}}
        )
    return {"Records": records}


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An in-process moto ECS with cluster 'app' running service 'web' on task definition web:1."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "TOPIC_ARN": TOPIC,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("ecs", region_name=REGION)
        client.create_cluster(clusterName="app")
        client.register_task_definition(
            family="web",
            taskRoleArn=TASK_ROLE,
            executionRoleArn=EXEC_ROLE,
            networkMode="bridge",
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": "web",
                    "image": f"{REPO}:v1",
                    "memory": 256,
                    "environment": [{"name": "MODE", "value": "prod"}],
                },
                {"name": "proxy", "image": "public.ecr.aws/nginx/nginx:1.27", "memory": 64},
            ],
            tags=[{"key": "team", "value": "payments"}],
        )
        client.create_service(cluster="app", serviceName="web", taskDefinition="web:1", desiredCount=2)
        yield client


def running(ecs: Any) -> tuple[str, dict[str, Any]]:
    """(family:revision, task definition) the service 'web' runs now."""
    arn = ecs.describe_services(cluster="app", services=["web"])["services"][0]["taskDefinition"]
    family, revision = ecs_deploy.family_revision(arn)
    described = ecs.describe_task_definition(taskDefinition=f"{family}:{revision}", include=["TAGS"])
    return f"{family}:{revision}", {**described["taskDefinition"], "tags": described.get("tags", [])}


def images(task_definition: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["image"] for c in task_definition["containerDefinitions"]}


def test_deploy_registers_a_revision_with_the_new_image_and_updates_the_service(ecs: Any) -> None:
    results = handle(sns_event(DEPLOY), ecs, allowed_cluster="app")

    revision, td = running(ecs)
    assert revision == "web:2"
    assert images(td) == {"web": f"{REPO}:abc1234", "proxy": "public.ecr.aws/nginx/nginx:1.27"}
    # Everything else is copied from web:1.
    assert (td["taskRoleArn"], td["executionRoleArn"], td["cpu"], td["memory"]) == (
        TASK_ROLE,
        EXEC_ROLE,
        "256",
        "512",
    )
    assert td["containerDefinitions"][0]["environment"] == [{"name": "MODE", "value": "prod"}]
    assert td["tags"] == [{"key": "team", "value": "payments"}]
    assert [(r["status"], r["container"], r["image"]) for r in results] == [
        ("updated", "web", f"{REPO}:abc1234")
    ]
    assert results[0]["to"].endswith("task-definition/web:2")


def test_rollback_returns_the_service_to_the_previous_revision(ecs: Any) -> None:
    handle(sns_event(DEPLOY), ecs, allowed_cluster="app")
    assert running(ecs)[0] == "web:2"

    results = handle(sns_event(ROLLBACK), ecs, allowed_cluster="app")

    revision, td = running(ecs)
    assert revision == "web:1"
    assert images(td)["web"] == f"{REPO}:v1"
    assert [(r["action"], r["status"], r["from"], r["to"]) for r in results] == [
        ("rollback", "updated", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:2", "web:1")
    ]


def test_rollback_to_a_given_revision(ecs: Any) -> None:
    handle(sns_event(DEPLOY, {**DEPLOY, "tag": "def5678"}), ecs, allowed_cluster="app")
    assert running(ecs)[0] == "web:3"

    handle(sns_event({**ROLLBACK, "revision": 1}), ecs, allowed_cluster="app")

    assert running(ecs)[0] == "web:1"


def test_deploying_the_running_image_again_registers_nothing(ecs: Any) -> None:
    handle(sns_event(DEPLOY), ecs, allowed_cluster="app")
    results = handle(sns_event(DEPLOY), ecs, allowed_cluster="app")
    assert [r["status"] for r in results] == ["unchanged"]
    arns = ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]
    assert [a.rsplit("/", 1)[1] for a in arns] == ["web:1", "web:2"]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({}, "event has no SNS Records"),
        ({"Records": [{"Sns": {}}]}, "record 0 is not an SNS notification"),
        (sns_event(DEPLOY, "{not json"), "message m-1 rejected: message is not JSON"),
        (sns_event({**DEPLOY, "cluster": "prod"}), "message m-0 rejected: cluster 'prod' is not the cluster"),
        (sns_event({**DEPLOY, "tag": ""}), "message m-0 rejected: 'tag' must be a non-empty string"),
    ],
)
def test_a_bad_message_is_rejected_and_touches_nothing(ecs: Any, event: dict[str, Any], reason: str) -> None:
    with pytest.raises(MessageError) as err:
        handle(event, ecs, allowed_cluster="app")
    assert str(err.value).startswith(reason)
    assert running(ecs)[0] == "web:1"
    assert len(ecs.list_task_definitions()["taskDefinitionArns"]) == 1


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({**DEPLOY, "service": "api"}, "service 'api' is not an ACTIVE service of cluster 'app'"),
        ({**DEPLOY, "image": "other/repo"}, "cannot tell which container runs other/repo"),
        (ROLLBACK, "web has no ACTIVE revision before 1 to roll back to"),
        ({**ROLLBACK, "revision": 9}, "web:9 is not an ACTIVE revision of web"),
    ],
)
def test_a_message_that_does_not_fit_the_service_changes_nothing(
    ecs: Any, message: dict[str, Any], reason: str
) -> None:
    with pytest.raises(PlanError) as err:
        handle(sns_event(message), ecs, allowed_cluster="app")
    assert str(err.value).startswith(reason)
    assert running(ecs)[0] == "web:1"
    assert len(ecs.list_task_definitions()["taskDefinitionArns"]) == 1


def test_handler_builds_its_client_and_reads_the_cluster_from_the_environment(
    ecs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLUSTER_NAME", "app")
    assert [r["status"] for r in ecs_deploy.handler(sns_event(DEPLOY), None)] == ["updated"]
    monkeypatch.setenv("CLUSTER_NAME", "other")
    with pytest.raises(MessageError, match="is not the cluster this function deploys to"):
        ecs_deploy.handler(sns_event(ROLLBACK), None)
    assert running(ecs)[0] == "web:2"


# --- hostile messages: a strict schema, refused with one short line, nothing changed -----------------------

OWN = frozenset({f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"})
HOSTILE: dict[str, tuple[str, str]] = {
    "cluster a list": (
        json.dumps({**DEPLOY, "cluster": ["app"]}),
        "'cluster' must be a non-empty string (an ECS cluster name), not a list",
    ),
    "service an object": (
        json.dumps({**DEPLOY, "service": {"name": "web"}}),
        "'service' must be a non-empty string (an ECS service name), not an object",
    ),
    "tag a number": (
        json.dumps({**DEPLOY, "tag": 1234}),
        "'tag' must be a non-empty string (a Docker tag (letters, digits, '_', '.', '-'; at most 128)), not a number",
    ),
    "image null": (
        json.dumps({**DEPLOY, "image": None}),
        "'image' must be a non-empty string (an image repository reference (registry/name)), not null",
    ),
    "revision a float": (
        json.dumps({**ROLLBACK, "revision": 2.0}),
        "'revision' must be a positive integer, not 2.0",
    ),
    "revision too large": (
        json.dumps({**ROLLBACK, "revision": 2**63}),
        "'revision' must be a positive integer, not 9223372036854775808",
    ),
    "huge value": (
        json.dumps({**DEPLOY, "cluster": "a" * 100_000}),
        f"'cluster' '{'a' * 40}'... is 100,000 characters, over the limit of 255",
    ),
    "huge image": (
        json.dumps({**DEPLOY, "image": "r" * 1000}),
        f"'image' '{'r' * 100}'... is 1,000 characters, over the limit of 255",
    ),
    "over the SNS limit": (
        json.dumps({**DEPLOY, "pad": "x" * 262_144}),
        "message is 262,290 bytes, over SNS's limit of 262,144",
    ),
    "deeply nested": (
        '{"action": "deploy", "cluster": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "message is not JSON this function accepts: nested too deeply",
    ),
    "nested value": (
        json.dumps({**DEPLOY, "tag": {"a": {"b": {"c": "d"}}}}),
        "'tag' must be a non-empty string (a Docker tag (letters, digits, '_', '.', '-'; at most 128)), not an object",
    ),
    "long unknown key": (
        json.dumps({**DEPLOY, "k" * 5000: 1}),
        f"deploy message has unknown key(s) '{'k' * 40}'...",
    ),
    "long action": (
        json.dumps({**DEPLOY, "action": "d" * 5000}),
        f"'action' must be one of deploy, rollback, not '{'d' * 40}'...",
    ),
    "Docker Hub image": (
        json.dumps({**DEPLOY, "image": "nginx"}),
        f"'image' 'nginx' is from registry docker.io, which this function does not deploy from (allowed: {min(OWN)})",
    ),
    "another registry": (
        json.dumps({**DEPLOY, "image": "evil.example.com/web"}),
        "'image' 'evil.example.com/web' is from registry evil.example.com, which this function does not deploy "
        f"from (allowed: {min(OWN)})",
    ),
    "another account's ECR": (
        json.dumps({**DEPLOY, "image": f"999999999999.dkr.ecr.{REGION}.amazonaws.com/web"}),
        f"'image' '999999999999.dkr.ecr.{REGION}.amazonaws.com/web' is from registry "
        f"999999999999.dkr.ecr.{REGION}.amazonaws.com, which this function does not deploy from (allowed: {min(OWN)})",
    ),
    "another region's ECR": (
        json.dumps({**DEPLOY, "image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web"}),
        f"'image' '{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web' is from registry "
        f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com, which this function does not deploy from (allowed: {min(OWN)})",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_message_is_refused_in_one_short_line(case: str) -> None:
    text, reason = HOSTILE[case]
    with pytest.raises(MessageError) as err:
        parse_message(text, registries=OWN)
    assert str(err.value) == reason
    assert len(str(err.value)) < 300


class LambdaContext:
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ecs-deploy"


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_the_function_refuses_a_hostile_message_and_changes_nothing(
    ecs: Any, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.setenv("CLUSTER_NAME", "app")
    text, reason = HOSTILE[case]
    with pytest.raises(MessageError) as err:
        ecs_deploy.handler(sns_event(text), LambdaContext())
    assert str(err.value) == f"message m-0 rejected: {reason}"
    assert running(ecs)[0] == "web:1"
    assert len(ecs.list_task_definitions()["taskDefinitionArns"]) == 1


def test_allowed_registries_add_to_the_accounts_own_ecr(ecs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTER_NAME", "app")
    monkeypatch.setenv("ALLOWED_REGISTRIES", " public.ecr.aws , localhost:5000")
    assert ecs_deploy.allowed_registries(ACCOUNT, REGION, " public.ecr.aws , localhost:5000") == {
        f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
        "public.ecr.aws",
        "localhost:5000",
    }
    message = {**DEPLOY, "image": "public.ecr.aws/nginx/nginx", "tag": "1.28"}
    [result] = ecs_deploy.handler(sns_event(message), LambdaContext())
    assert (result["status"], result["container"]) == ("updated", "proxy")
    with pytest.raises(
        MessageError, match=r"^message m-0 rejected: 'image' 'ghcr.io/team/web' is from registry ghcr.io"
    ):
        ecs_deploy.handler(sns_event({**DEPLOY, "image": "ghcr.io/team/web"}), LambdaContext())


# --- issue 13 item 9: only its own topic, only its families, never a privileged container -------------


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (
            lambda r: r["Sns"].update(TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:other"),
            f"record 0 comes from topic 'arn:aws:sns:{REGION}:{ACCOUNT}:other', not this function's topic",
        ),
        (lambda r: r["Sns"].pop("TopicArn"), "record 0 comes from topic None, not this function's topic"),
        (
            lambda r: r.update(EventSource="aws:sqs"),
            "record 0 is not an SNS delivery (EventSource 'aws:sqs')",
        ),
    ],
)
def test_the_handler_accepts_only_messages_from_its_own_topic(
    ecs: Any, monkeypatch: pytest.MonkeyPatch, mutate: Any, reason: str
) -> None:
    monkeypatch.setenv("CLUSTER_NAME", "app")
    event = sns_event(DEPLOY)
    mutate(event["Records"][0])
    with pytest.raises(MessageError, match=re.escape(reason)):
        ecs_deploy.handler(event, None)
    assert running(ecs)[0] == "web:1"


def test_a_function_without_its_topic_accepts_nothing(ecs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOPIC_ARN")
    with pytest.raises(MessageError, match="not this function's topic"):
        ecs_deploy.handler(sns_event(DEPLOY), None)
    assert running(ecs)[0] == "web:1"


def test_the_handler_registers_only_its_task_families(ecs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASK_FAMILY_PREFIX", "billing-")
    with pytest.raises(
        PlanError, match=re.escape("task definition family 'web' is not one this function may register")
    ):
        ecs_deploy.handler(sns_event(DEPLOY), None)
    assert running(ecs)[0] == "web:1"
    monkeypatch.setenv("TASK_FAMILY_PREFIX", "we")
    assert [r["status"] for r in ecs_deploy.handler(sns_event(DEPLOY), None)] == ["updated"]


def test_a_privileged_container_is_never_registered(ecs: Any) -> None:
    ecs.register_task_definition(
        family="web",
        containerDefinitions=[{"name": "web", "image": f"{REPO}:v1", "memory": 256, "privileged": True}],
    )
    ecs.update_service(cluster="app", service="web", taskDefinition="web:2")
    with pytest.raises(PlanError, match=re.escape("runs privileged container(s) web; this function never")):
        handle(sns_event(DEPLOY), ecs, limits=ecs_deploy.Limits(cluster="app", topic_arn=TOPIC))
    assert running(ecs)[0] == "web:2"
    assert len(ecs.list_task_definitions()["taskDefinitionArns"]) == 2
