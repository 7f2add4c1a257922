"""The Lambda: CodePipeline jobs (Stubber for the job API, the artifact and the org in moto's server),
continuation tokens, EventBridge and direct events, SNS messages, and the fail-safe entry point."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from pipeline.core import tokens
from pipeline.core.runstate import RunState
from pipeline.job import handle
from tests.support.lambda_job import BINDING, BUCKET, KEY, Ctx, artifact, held, job, planned, world_deps
from tests.support.paths import ROOT
from tests.support.sync import CREDS, World, edit, write_variant


@pytest.fixture
def lam(make_world: Any) -> Iterator[tuple[World, Any, Stubber, Any]]:
    world = make_world()
    s3 = world.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=artifact(world.manifest_dir))
    sns, sqs = world.client("sns"), world.client("sqs")
    topic = sns.create_topic(Name="org-roles-sync")["TopicArn"]
    queue = sqs.create_queue(QueueName="notes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    cp = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    stub = Stubber(cp)
    deps = world_deps(world, env={"NOTIFICATION_TOPIC_ARN": topic}, codepipeline=cp, sns=sns)
    with stub:
        yield world, deps, stub, (sqs, queue)
    stub.assert_no_pending_responses()


def notes(queue: tuple[Any, str]) -> list[str]:
    sqs, url = queue
    return [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]


def test_codepipeline_job_continues_then_succeeds(lam: Any) -> None:
    world, deps, stub, queue = lam
    walk = planned(deps, stub)
    deps.step_seconds = 0  # the first invocation starts operations and hands over at once
    stub.add_response("put_job_success_result", {}, {"jobId": "job-1", "continuationToken": ANY})
    first = handle(job(approve=artifact(world.manifest_dir), org_walk=walk), Ctx(), deps)
    assert tokens.unseal(first["continuation"], BINDING, deps.signer).run == "job-1"
    assert held(deps, first["continuation"]).pending
    assert notes(queue) == []  # nothing to tell yet
    deps.step_seconds = 600
    stub.add_response("put_job_success_result", {}, {"jobId": "job-1", "executionDetails": ANY})
    second = handle(
        job(first["continuation"], approve=artifact(world.manifest_dir), org_walk=walk), Ctx(), deps
    )
    assert second["ok"] and second["report"]["outcome"] == "success"
    [note] = notes(queue)
    assert note.startswith("CodePipeline job job-1\nsync success:")
    assert "Root/Workloads/Prod" in note  # per-OU results
    # The operation ids came from the job id: a repeat of the same job starts nothing new.
    assert set(world.writes()) <= {
        "CreateStackSet",
        "UpdateStackSet",
        "CreateStackInstances",
        "UpdateStackInstances",
    }


def test_an_operation_that_failed_between_invocations_fails_the_job(lam: Any) -> None:
    """An operation carried over in the continuation token ends FAILED while no invocation runs: the
    next invocation reports it (accounts and reasons) and fails the job, even though the account works
    again by then and the re-plan would have gone on to repair it."""
    world, deps, stub, queue = lam
    failing = "100000000000"  # Root/Sandbox: a Developer and a ReadOnly target
    world.service.fail_accounts[failing] = "a service control policy denies iam:CreateRole"
    walk = planned(deps, stub)
    deps.step_seconds = 0
    stub.add_response("put_job_success_result", {}, {"jobId": "job-1", "continuationToken": ANY})
    first = handle(job(approve=artifact(world.manifest_dir), org_walk=walk), Ctx(), deps)
    world.service.drain()  # the operations end (one failing) while no invocation runs
    world.service.fail_accounts.clear()
    deps.step_seconds = 600
    stub.add_response(
        "put_job_failure_result",
        {},
        {"jobId": "job-1", "failureDetails": {"type": "JobFailed", "message": ANY}},
    )
    second = handle(
        job(first["continuation"], approve=artifact(world.manifest_dir), org_walk=walk), Ctx(), deps
    )
    assert not second["ok"]
    results = {s["name"]: s["result"] for s in second["report"]["stacksets"]}
    assert results == {
        "org-roles-Developer": "failed",
        "org-roles-ReadOnly": "failed",
        # Created by the first invocation's operations, which vouch for its hash: nothing left to do.
        "org-roles-login-account": "unchanged",
        "org-roles-management-account": "unchanged",
    }
    [note] = notes(queue)
    assert (
        f"failed: org-roles-Developer {failing} us-east-1: a service control policy denies iam:CreateRole"
        in note
    )


def test_a_failure_seen_while_other_operations_run_stays_in_the_token(lam: Any) -> None:
    """The failure is seen in an invocation that hands over again: the token carries it to the end."""
    world, deps, stub, _queue = lam
    world.service.fail_accounts["100000000000"] = "a service control policy denies iam:CreateRole"
    walk = planned(deps, stub)
    deps.step_seconds = 0
    stub.add_response("put_job_success_result", {}, {"jobId": "job-1", "continuationToken": ANY})
    first = handle(job(approve=artifact(world.manifest_dir), org_walk=walk), Ctx(), deps)
    # Developer's and ReadOnly's operations end (failing); the login account's still runs.
    for name in ("org-roles-Developer", "org-roles-ReadOnly"):
        record = world.service.record(name)
        while record.running() is not None:
            world.service._tick(record)
    world.service.fail_accounts.clear()
    stub.add_response("put_job_success_result", {}, {"jobId": "job-1", "continuationToken": ANY})
    second = handle(
        job(first["continuation"], approve=artifact(world.manifest_dir), org_walk=walk), Ctx(), deps
    )
    pending = held(deps, second["continuation"]).pending
    assert sorted((name, op[:7]) for name, op in pending.items()) == [
        ("org-roles-Developer", "failed:"),
        ("org-roles-ReadOnly", "failed:"),
        ("org-roles-login-account", pending["org-roles-login-account"][:7]),
    ]
    deps.step_seconds = 600
    stub.add_response("put_job_failure_result", {}, {"jobId": "job-1", "failureDetails": ANY})
    third = handle(
        job(second["continuation"], approve=artifact(world.manifest_dir), org_walk=walk), Ctx(), deps
    )
    results = {s["name"]: s["result"] for s in third["report"]["stacksets"]}
    assert (results["org-roles-Developer"], results["org-roles-ReadOnly"]) == ("failed", "failed")


def test_missing_manifest_fails_the_job_with_the_reason(lam: Any) -> None:
    world, deps, stub, queue = lam
    broken = artifact(world.manifest_dir, without="templates/org/manifest.json")
    world.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=broken)
    stub.add_response(
        "put_job_failure_result",
        {},
        {
            "jobId": "job-1",
            "failureDetails": {
                "type": "JobFailed",
                "message": "the input artifact has no templates/org/manifest.json",
            },
        },
    )
    assert handle(job(approve=broken), Ctx(), deps) == {
        "ok": False,
        "error": "the input artifact has no templates/org/manifest.json",
    }
    assert [n.splitlines()[:2] for n in notes(queue)] == [
        ["CodePipeline job job-1", "error: the input artifact has no templates/org/manifest.json"]
    ]


def test_guard_stop_fails_the_job_before_any_write(lam: Any, tmp_path: Path) -> None:
    world, deps, stub, _queue = lam
    stub.add_response("put_job_success_result", {}, {"jobId": "job-1", "executionDetails": ANY})
    handle(job(approve=artifact(world.manifest_dir)), Ctx(), deps)

    def shrink(data: dict[str, Any]) -> None:
        data["org"]["deletion"]["max_instance_deletions"] = 0
        edit(data, "org-roles-ReadOnly")["targets"][0]["ou_path"] = "Root/Security"

    shrunk = artifact(write_variant(tmp_path / "v2", shrink))
    world.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=shrunk)
    writes = list(world.writes())
    stub.add_response("put_job_failure_result", {}, {"jobId": "job-2", "failureDetails": ANY})
    event = job(approve=shrunk, job_id="job-2")
    result = handle(event, Ctx(), deps)
    assert result["error"].startswith(
        "the deletion guard stopped the run before any write: the plan deletes 12 stack"
    )
    assert world.writes() == writes


MOVE = {
    "source": "aws.organizations",
    "detail-type": "AWS API Call via CloudTrail",
    "detail": {"eventName": "MoveAccount"},
}


def test_organizations_event_starts_the_pipeline(lam: Any) -> None:
    _world, deps, stub, _queue = lam
    deps.env = {**deps.env, "PIPELINE_NAME": "org-roles"}
    deps.now = lambda: 1000.0
    stub.add_response("start_pipeline_execution", {"pipelineExecutionId": "e-1"}, {"name": "org-roles"})
    assert handle(MOVE, Ctx(), deps) == {"ok": True, "pipeline_execution": "e-1", "event": "MoveAccount"}
    assert deps.state_store().org_changed_at() == 1000.0
    other = {"source": "aws.organizations", "detail": {"eventName": "TagResource"}}
    assert handle(other, Ctx(), deps) == {"ok": True, "ignored": "TagResource"}


def test_direct_plan(lam: Any) -> None:
    world, deps, _stub, _queue = lam
    result = handle({"action": "plan", "artifact_uri": f"s3://{BUCKET}/{KEY}"}, Ctx(), deps)
    assert result["report"]["outcome"] == "planned"
    assert world.writes() == []


def test_token_stays_compact_with_many_pending_operations(lam: Any) -> None:
    """The pending operations live in the stored state, not the token: 60 of them (and any run id
    CodePipeline issues) leave the token at its ~140 characters, far below CodePipeline's 2,048."""
    _world, deps, _stub, _queue = lam
    store = deps.state_store()
    state = RunState(pending={f"org-roles-Role{i}": "0" * 36 for i in range(60)})
    digest = store.put("job-1", state.to_dict())
    token = tokens.seal(tokens.Token("job-1", digest), BINDING, deps.signer)
    assert len(token) < 200
    assert tokens.unseal(token, BINDING, deps.signer) == tokens.Token("job-1", digest)
    assert RunState.from_dict(store.get("job-1", digest)) == state
    run = "a" * 64  # the longest run id a state reference takes
    assert len(tokens.seal(tokens.Token(run, digest), BINDING, deps.signer)) < 300


@pytest.fixture
def broken_core() -> Iterator[Any]:
    """The handler module loaded while the core cannot be imported."""
    import pipeline
    import pipeline.handler
    import pipeline.job as core

    del pipeline.job
    sys.modules["pipeline.job"] = None  # type: ignore[assignment]
    try:
        yield importlib.reload(pipeline.handler)
    finally:
        sys.modules["pipeline.job"] = core
        pipeline.job = core
        importlib.reload(pipeline.handler)


def test_handler_fails_the_job_even_when_the_core_cannot_import(broken_core: Any) -> None:
    cp = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    with Stubber(cp) as stub:
        stub.add_response(
            "put_job_failure_result",
            {},
            {"jobId": "job-1", "failureDetails": {"type": "JobFailed", "message": ANY}},
        )
        result = broken_core.handler(job(), None, codepipeline=cp)
    assert result["ok"] is False and "the sync could not be imported" in result["error"]
    with pytest.raises(RuntimeError, match="could not be imported"):
        broken_core.handler({"action": "sync"}, None)


def test_lambda_code_imports_only_the_standard_library_and_boto3() -> None:
    """What runs in Lambda may import only the standard library, boto3/botocore and itself (never the
    test-only pipeline.emulator, which needs moto)."""
    import ast

    from generator.package import lambda_sources

    found: set[str] = set()
    for path in lambda_sources(ROOT):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
    outside = {m for m in found if m.split(".")[0] not in sys.stdlib_module_names}
    # yaml: PyYAML, shipped inside the zip for the guardrails (generator/package.py VENDORED).
    assert {m.split(".")[0] for m in outside} == {"boto3", "botocore", "pipeline", "yaml"}
    assert [m for m in outside if m.startswith("pipeline.emulator")] == []
