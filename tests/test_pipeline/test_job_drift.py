"""The scheduled drift check's trust boundary (pipeline.job, drift): the Lambda checks drift against the
artifact the pipeline last synced (the newest succeeded Sync action in CodePipeline's history, its sha256
checked against the approved one), never against a pushed artifact that was never approved. CodePipeline's
ListActionExecutions is not in moto: botocore Stubber, with the response shape of the API reference."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from pipeline.aws.approved import SYNC_ACTION, SYNC_STAGE
from pipeline.aws.retry import Backoff
from pipeline.core.errors import SyncError
from pipeline.job import Deps, approved_for_drift, classify, handle
from tests.support.lambda_job import BUCKET, GUARDRAIL_ENV, Ctx, artifact, sha256
from tests.support.sync import CREDS, write_variant

PIPELINE = "org-roles-pipeline"
TOPIC = "arn:aws:sns:us-east-1:111111111111:org-roles-notify"


def _row(execution: str, stage: str, status: str, hour: int, key: str, approved: str = "") -> dict[str, Any]:
    config = {"FunctionName": "org-roles-sync"}
    if approved:
        config["UserParameters"] = json.dumps({"approved_sha256": approved})
    return {
        "pipelineExecutionId": execution,
        "actionExecutionId": f"{execution}-{stage}",
        "stageName": stage,
        "actionName": SYNC_ACTION if stage == SYNC_STAGE else "PlanAndCheckGuardrails",
        "status": status,
        "startTime": datetime(2026, 12, 1, hour, tzinfo=UTC),
        "input": {
            "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
            "resolvedConfiguration": config,
            "inputArtifacts": [{"name": "Build", "s3location": {"bucket": BUCKET, "key": key}}],
        },
    }


@pytest.fixture
def clients() -> Any:
    cp = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    s3 = boto3.client("s3", region_name="us-east-1", **CREDS)
    sns = boto3.client("sns", region_name="us-east-1", **CREDS)
    stubs = [Stubber(c) for c in (cp, s3, sns)]
    for stub in stubs:
        stub.activate()
    yield (cp, s3, sns), stubs
    for stub in stubs:
        stub.assert_no_pending_responses()
        stub.deactivate()


def _deps(cp: Any, s3: Any, sns: Any, **env: str) -> Deps:
    def no_clients(_region: str) -> Any:
        raise AssertionError("no AWS call may follow a refused artifact")

    return Deps(
        env={**GUARDRAIL_ENV, "PIPELINE_NAME": PIPELINE, "NOTIFICATION_TOPIC_ARN": TOPIC, **env},
        codepipeline=cp,
        sns=sns,
        sync_clients=no_clients,
        s3=lambda _creds: s3,
        backoff=Backoff(sleep=lambda _s: None),
    )


def _body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_the_drift_schedule_event_is_classified_and_nothing_else_is() -> None:
    assert classify({"action": "drift"}) == "drift"
    refused = handle({"action": "drift-everything"}, Ctx())
    assert refused == {
        "ok": False,
        "error": "direct invocation: 'action' must be plan or drift, not 'drift-everything'",
    }


def test_the_newest_succeeded_sync_is_used_never_a_newer_unapproved_push(
    tmp_path: Path, clients: Any
) -> None:
    """History, newest first: an attacker's push (its Plan succeeded, its Sync failed on the hash check and
    a later one is still running), then two approved syncs. The newest approved one is read."""
    (cp, s3, sns), (cp_stub, s3_stub, _sns) = clients
    approved_old = artifact(write_variant(tmp_path / "old"))
    approved_new = artifact(
        write_variant(tmp_path / "new", lambda d: d["stacksets"][0].update(description="newer"))
    )
    rows = [
        _row("exec-4", SYNC_STAGE, "InProgress", 9, "pushed.zip", sha256(b"pushed")),
        _row("exec-4", "Plan", "Succeeded", 8, "pushed.zip"),
        _row("exec-3", SYNC_STAGE, "Failed", 7, "pushed.zip", sha256(approved_new)),
        _row("exec-1", SYNC_STAGE, "Succeeded", 5, "old.zip", sha256(approved_old)),
        _row("exec-2", SYNC_STAGE, "Succeeded", 6, "new.zip", sha256(approved_new)),
    ]
    cp_stub.add_response(
        "list_action_executions",
        {"actionExecutionDetails": rows[:3], "nextToken": "page-2"},
        {"pipelineName": PIPELINE},
    )
    cp_stub.add_response(
        "list_action_executions",
        {"actionExecutionDetails": rows[3:]},
        {"pipelineName": PIPELINE, "nextToken": "page-2"},
    )
    s3_stub.add_response("get_object", {"Body": _body(approved_new)}, {"Bucket": BUCKET, "Key": "new.zip"})
    manifest, digest, execution = approved_for_drift(_deps(cp, s3, sns), lambda: False)
    assert (digest, execution) == (sha256(approved_new), "exec-2")
    assert manifest.stacksets[0].description == "newer"


def test_an_approved_artifact_replaced_in_the_bucket_is_refused_and_reported(
    tmp_path: Path, clients: Any
) -> None:
    """Someone overwrote the synced artifact's S3 object: its sha256 is not the approved one, so no drift
    detection runs on it and the topic hears why."""
    (cp, s3, sns), (cp_stub, s3_stub, sns_stub) = clients
    approved = artifact(write_variant(tmp_path / "ok"))
    pushed = artifact(write_variant(tmp_path / "evil", lambda d: d["stacksets"][0].update(description="x")))
    cp_stub.add_response(
        "list_action_executions",
        {"actionExecutionDetails": [_row("exec-1", SYNC_STAGE, "Succeeded", 5, "a.zip", sha256(approved))]},
        {"pipelineName": PIPELINE},
    )
    s3_stub.add_response("get_object", {"Body": _body(pushed)}, {"Bucket": BUCKET, "Key": "a.zip"})
    error = (
        f"the input artifact's sha256 is {sha256(pushed)}, not the approved {sha256(approved)}: it changed "
        "after its plan was made, so nothing is synced"
    )
    sns_stub.add_response(
        "publish",
        {"MessageId": "m-1"},
        {
            "TopicArn": TOPIC,
            "Subject": "org-stacksets drift check FAILED",
            "Message": f"drift check: {error}",
        },
    )
    assert handle({"action": "drift"}, Ctx(), _deps(cp, s3, sns)) == {"ok": False, "error": error}


def test_without_an_approved_sync_there_is_nothing_to_check(clients: Any) -> None:
    (cp, s3, sns), (cp_stub, _s3, _sns) = clients
    cp_stub.add_response(
        "list_action_executions",
        {"actionExecutionDetails": [_row("exec-9", SYNC_STAGE, "Failed", 5, "pushed.zip", "0" * 64)]},
        {"pipelineName": PIPELINE},
    )
    with pytest.raises(SyncError, match="has no succeeded Sync action yet"):
        approved_for_drift(_deps(cp, s3, sns), lambda: False)


def test_an_artifact_outside_the_pipeline_bucket_is_not_read(clients: Any) -> None:
    (cp, s3, sns), (cp_stub, _s3, _sns) = clients
    row = _row("exec-1", SYNC_STAGE, "Succeeded", 5, "a.zip", "0" * 64)
    row["input"]["inputArtifacts"][0]["s3location"]["bucket"] = "elsewhere"
    cp_stub.add_response(
        "list_action_executions", {"actionExecutionDetails": [row]}, {"pipelineName": PIPELINE}
    )
    with pytest.raises(SyncError, match="is in bucket 'elsewhere', not the pipeline's artifact bucket"):
        approved_for_drift(_deps(cp, s3, sns), lambda: False)
