"""The Lambda as the pipeline's trust boundary: the Plan action plans the exact artifact with this packaged
code and stores the plan once per execution; the Sync action runs only the artifact whose sha256 the approval
carried; both refuse an artifact that breaks the stack's guardrails, before any write."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from pipeline.job import handle, plan_key
from tests.support.lambda_job import BUCKET, KEY, Ctx, artifact, job, sha256, world_deps
from tests.support.sync import CREDS, World, edit, write_variant


@pytest.fixture
def pipe(make_world: Any) -> Iterator[tuple[World, Any, Stubber, bytes]]:
    world = make_world()
    body = artifact(world.manifest_dir)
    world.client("s3").create_bucket(Bucket=BUCKET)
    world.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=body)
    cp = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    stub = Stubber(cp)
    with stub:
        yield world, world_deps(world, codepipeline=cp), stub, body
    stub.assert_no_pending_responses()


def _failure(stub: Stubber, job_id: str, message: Any = ANY) -> None:
    details = ANY if message is ANY else {"type": "JobFailed", "message": message}
    stub.add_response("put_job_failure_result", {}, {"jobId": job_id, "failureDetails": details})


def test_the_plan_action_hands_the_artifact_hash_and_stores_the_plan_once(pipe: Any) -> None:
    world, deps, stub, body = pipe
    digest = hashlib.sha256(body).hexdigest()
    key = plan_key("exec-1", "job-1")
    url = f"https://s3.console.aws.amazon.com/s3/object/{BUCKET}?prefix={key}"
    variables = {"ARTIFACT_SHA256": digest, "PLAN_SUMMARY": ANY, "PLAN_URL": url, "ORG_WALK": ANY}
    stub.add_response(
        "put_job_success_result",
        {},
        {"jobId": "job-1", "outputVariables": variables, "executionDetails": ANY},
    )
    result = handle(job(mode="plan", execution="exec-1"), Ctx(), deps)
    assert result["ok"] and result["plan"] == "plans/exec-1/job-1/plan.md"
    assert result["variables"]["PLAN_SUMMARY"].startswith("plan: ")
    assert result["variables"]["PLAN_SUMMARY"].endswith("; guardrails passed")
    stored = world.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    assert f"Artifact sha256 `{digest}`" in stored and "| org-roles-Developer |" in stored
    assert world.writes() == []  # planning writes no StackSet
    # The same plan cannot be written twice: a later job (or build) never replaces what was approved.
    _failure(stub, "job-1")
    again = handle(job(mode="plan", execution="exec-1"), Ctx(), deps)
    assert again["error"].startswith(
        f"the plan could not be stored at s3://{BUCKET}/{key}: PreconditionFailed"
    )
    assert world.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode() == stored


def test_the_approval_message_fits_an_action_configuration_field() -> None:
    """With the longest summary and a hash, the resolved CustomData stays under the 1,000 characters of an
    action configuration field."""
    from generator.blueprints.org_pipeline import APPROVAL_MESSAGE
    from pipeline.job import PLAN_SUMMARY_CHARS

    resolved = (
        APPROVAL_MESSAGE["CustomData"]
        .replace("#{PlanVariables.ARTIFACT_SHA256}", "0" * 64)
        .replace("#{PlanVariables.PLAN_SUMMARY}", "x" * PLAN_SUMMARY_CHARS)
    )
    assert "#{" not in resolved and len(resolved) < 1000


def test_the_plan_action_needs_its_execution_id(pipe: Any) -> None:
    _world, deps, stub, _body = pipe
    error = "UserParameters: the Plan action needs execution (#{codepipeline.PipelineExecutionId})"
    _failure(stub, "job-1", error)
    assert handle(job(mode="plan"), Ctx(), deps) == {"ok": False, "error": error}


def test_the_sync_refuses_an_artifact_other_than_the_approved_one(pipe: Any, tmp_path: Path) -> None:
    """The artifact is replaced after its plan was approved (another build overwrote the object): the Sync
    action's approved_sha256 no longer matches, and nothing is written."""
    world, deps, stub, approved = pipe

    def widen(data: dict[str, Any]) -> None:
        edit(data, "org-roles-Developer")["description"] = "changed after approval"

    other = artifact(write_variant(tmp_path / "v2", widen))
    world.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=other)
    error = (
        f"the input artifact's sha256 is {sha256(other)}, not the approved {sha256(approved)}: it changed "
        "after its plan was made, so nothing is synced"
    )
    _failure(stub, "job-1", error)
    assert handle(job(approve=approved), Ctx(), deps) == {"ok": False, "error": error}
    assert world.writes() == []


def test_the_sync_refuses_a_job_without_an_approved_hash(pipe: Any) -> None:
    world, deps, stub, _body = pipe
    error = (
        "UserParameters has no approved_sha256 (64 hex digits): the Sync action must carry the Plan action's "
        "ARTIFACT_SHA256 (redeploy templates/org/pipeline.yaml, which sets it)"
    )
    _failure(stub, "job-1", error)
    assert handle(job(), Ctx(), deps) == {"ok": False, "error": error}
    params = json.dumps({"approved_sha256": "not-a-hash"})
    event = job()
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = params
    _failure(stub, "job-1", error)
    assert handle(event, Ctx(), deps) == {"ok": False, "error": error}
    assert world.writes() == []


def test_without_the_guardrail_settings_nothing_is_planned_or_synced(pipe: Any) -> None:
    world, deps, stub, body = pipe
    deps.env = {k: v for k, v in deps.env.items() if k != "GUARDRAIL_LOGIN_ACCOUNT_ID"}
    error = (
        "guardrails refused the artifact before any write: GUARDRAIL_LOGIN_ACCOUNT_ID is not set: the sync "
        "needs the login account id (the pipeline stack's LoginAccountId parameter) to check trust policies"
    )
    for event in (job(mode="plan", execution="exec-1"), job(approve=body)):
        _failure(stub, "job-1", error)
        assert handle(event, Ctx(), deps) == {"ok": False, "error": error}
    assert world.writes() == [] and world.service.calls == []
