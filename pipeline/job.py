"""The sync Lambda: CodePipeline jobs, EventBridge Organizations events and direct invocations, each
translated into one sync step (plan, guard, start or poll operations) and a result.

Inside CodePipeline a step returns a continuation token while operations run and polls them on the next
invocation, so no invocation waits long; a crash is recovered by the next invocation from the live state
(operation ids derive from the job id, so nothing starts twice).
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.aws import notify
from pipeline.aws.clients import Clients, make_clients
from pipeline.aws.retry import Backoff, PollPolicy, describe_error
from pipeline.core import limits
from pipeline.core.errors import SyncError
from pipeline.core.manifest import Manifest, check_templates, loads_manifest
from pipeline.core.outcomes import LaneResult
from pipeline.core.report import Outcome, SyncReport
from pipeline.sync import (
    SyncSession,
    apply_plan,
    carry_failures,
    plan_report,
    plan_sync,
    poll_pending,
)

DEFAULT_MANIFEST = "templates/org/manifest.json"
DEFAULT_TEMPLATES = "templates"
# Organizations events that change which accounts an OU target reaches.
ORG_EVENTS = frozenset(
    {
        "MoveAccount",
        "CreateAccountResult",
        "AcceptHandshake",
        "RemoveAccountFromOrganization",
        "CloseAccount",
        "CreateOrganizationalUnit",
        "UpdateOrganizationalUnit",
        "DeleteOrganizationalUnit",
    }
)


@dataclass
class Deps:
    """What the Lambda talks to; built from the environment in AWS, injected in tests."""

    env: Mapping[str, str]
    codepipeline: Any
    sns: Any
    lambda_client: Any
    sync_clients: Callable[[str], Clients]  # home region -> the sync's clients
    s3: Callable[[Mapping[str, str] | None], Any]  # artifact credentials (or None) -> S3 client
    step_seconds: float = 60.0
    poll_seconds: float = 5.0
    poll: PollPolicy = field(default_factory=PollPolicy)
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    started: float = field(default=0.0)

    @classmethod
    def from_environment(cls) -> Deps:
        env = dict(os.environ)
        clients = make_clients(component="sync-lambda")

        def s3(creds: Mapping[str, str] | None) -> Any:
            if not creds:
                return clients.client("s3")
            keys = {
                "aws_access_key_id": creds["accessKeyId"],
                "aws_secret_access_key": creds["secretAccessKey"],
            }
            if creds.get("sessionToken"):
                keys["aws_session_token"] = creds["sessionToken"]
            return make_clients(component="sync-lambda", credentials=keys).client("s3")

        return cls(
            env=env,
            codepipeline=clients.client("codepipeline"),
            sns=clients.client("sns"),
            lambda_client=clients.client("lambda"),
            sync_clients=lambda region: make_clients(region, component="sync-lambda"),
            s3=s3,
            step_seconds=float(env.get("SYNC_STEP_SECONDS", "60")),
        )


def handle(event: Any, context: Any, deps: Deps | None = None) -> dict[str, Any]:
    deps = deps or Deps.from_environment()
    deps.started = deps.clock()
    if isinstance(event, dict) and "CodePipeline.job" in event:
        return _codepipeline(event["CodePipeline.job"], context, deps)
    if isinstance(event, dict) and event.get("source") == "aws.organizations":
        return _organizations_event(event, context, deps)
    if isinstance(event, dict) and event.get("action") in ("plan", "sync"):
        return _direct(event, context, deps)
    raise ValueError("unknown event: expected a CodePipeline job, an Organizations event or {'action': ...}")


# --- loading the manifest ------------------------------------------------------------------------------


def load_artifact(data: bytes, manifest_path: str, templates_dir: str) -> tuple[Manifest, dict[str, str]]:
    """The manifest and its templates out of a pipeline artifact (a zip of the repository's build output)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise SyncError(f"the input artifact is not a zip file: {exc}") from exc
    names = set(archive.namelist())
    if manifest_path not in names:
        raise SyncError(f"the input artifact has no {manifest_path}")
    manifest = loads_manifest(archive.read(manifest_path), manifest_path)
    bodies = {}
    wanted = [s.template for s in manifest.stacksets]
    if manifest.management_account_stack is not None:
        wanted.append(manifest.management_account_stack.template)
    for rel in wanted:
        name = f"{templates_dir.rstrip('/')}/{rel}"
        if name in names:
            bodies[rel] = archive.read(name)
    return manifest, check_templates(manifest, bodies)


def _read_s3(client: Any, bucket: str, key: str) -> bytes:
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def _settings(raw: Any) -> dict[str, str]:
    if not raw:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise SyncError(f"UserParameters is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise SyncError("UserParameters must be a JSON object")
    return {str(k): str(v) for k, v in value.items()}


# --- one step ------------------------------------------------------------------------------------------


def _out_of_time(context: Any, deps: Deps) -> Callable[[], bool]:
    def check() -> bool:
        if deps.clock() - deps.started > deps.step_seconds:
            return True
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return bool(remaining and remaining() < 60_000)

    return check


def _step(
    manifest: Manifest,
    templates: Mapping[str, str],
    run_id: str,
    pending: Mapping[str, str],
    context: Any,
    deps: Deps,
    *,
    apply: bool = True,
) -> tuple[SyncReport | None, dict[str, str]]:
    """Poll carried-over operations; when they are done, plan afresh and start what is next."""
    session = SyncSession(
        manifest,
        templates,
        deps.sync_clients(manifest.org.home_region),
        run_id=run_id,
        out_of_time=_out_of_time(context, deps),
        poll=deps.poll,
        backoff=deps.backoff,
    )
    out_of_time = _out_of_time(context, deps)
    failed: dict[str, LaneResult] = {}
    while pending:
        pending, ended = poll_pending(session, pending)
        failed |= ended
        if pending and out_of_time():
            return None, {**pending, **carry_failures(None, failed)}
        if pending:
            deps.sleep(deps.poll_seconds)
    plan = plan_sync(session)
    if not apply:
        return plan_report(session, plan), {}
    report = apply_plan(session, plan, failed)
    if not report.pending:
        return report, {}
    # Still running elsewhere: failures so far go on in the token, so the final report has them.
    return report, {**carry_failures(report, failed), **report.pending}


def encode_token(run_id: str, pending: Mapping[str, str]) -> str:
    token = json.dumps(
        {"v": 1, "run": run_id, "pending": dict(pending)}, sort_keys=True, separators=(",", ":")
    )
    if len(token) > limits.CONTINUATION_TOKEN_CHARS:
        # Dropping the ids is safe: the next step re-plans, re-issues the same ids and adopts them.
        token = json.dumps({"v": 1, "run": run_id, "pending": {}}, separators=(",", ":"))
    return token


def decode_token(token: str | None) -> tuple[str | None, dict[str, str]]:
    if not token:
        return None, {}
    try:
        data = json.loads(token)
        return str(data["run"]), {str(k): str(v) for k, v in data.get("pending", {}).items()}
    except (ValueError, KeyError, TypeError):
        return None, {}


def _topic(manifest: Manifest | None, deps: Deps) -> str | None:
    """org.yaml's topic, else the pipeline stack's (NOTIFICATION_TOPIC_ARN), else none."""
    configured = manifest.org.sns_topic_arn if manifest else None
    return configured or deps.env.get("NOTIFICATION_TOPIC_ARN") or deps.env.get("SNS_TOPIC_ARN") or None


# --- CodePipeline ----------------------------------------------------------------------------------------


def _codepipeline(job: Mapping[str, Any], context: Any, deps: Deps) -> dict[str, Any]:
    job_id = job["id"]
    data = job.get("data", {})
    run_id, pending = decode_token(data.get("continuationToken"))
    run_id = run_id or job_id
    manifest: Manifest | None = None
    try:
        settings = _settings(
            data.get("actionConfiguration", {}).get("configuration", {}).get("UserParameters")
        )
        location = data["inputArtifacts"][0]["location"]["s3Location"]
        s3 = deps.s3(data.get("artifactCredentials"))
        artifact = _read_s3(s3, location["bucketName"], location["objectKey"])
        manifest, templates = load_artifact(
            artifact, settings.get("manifest", DEFAULT_MANIFEST), settings.get("templates", DEFAULT_TEMPLATES)
        )
        report, still = _step(manifest, templates, run_id, pending, context, deps)
    except Exception as exc:
        error = _one_line(exc)
        deps.codepipeline.put_job_failure_result(
            jobId=job_id, failureDetails={"type": "JobFailed", "message": error[:5000]}
        )
        notify.publish(deps.sns, _topic(manifest, deps), None, error, f"CodePipeline job {job_id}")
        return {"ok": False, "error": error}
    if still:
        token = encode_token(run_id, still)
        deps.codepipeline.put_job_success_result(jobId=job_id, continuationToken=token)
        return {"ok": True, "continuation": token}
    assert report is not None
    if report.outcome == Outcome.SUCCESS:
        deps.codepipeline.put_job_success_result(
            jobId=job_id,
            executionDetails={
                "summary": report.headline()[: limits.EXECUTION_SUMMARY_CHARS],
                "percentComplete": 100,
            },
        )
    else:
        deps.codepipeline.put_job_failure_result(
            jobId=job_id, failureDetails={"type": "JobFailed", "message": notify.message(report)[:5000]}
        )
    notify.publish(deps.sns, _topic(manifest, deps), report, context=f"CodePipeline job {job_id}")
    return {"ok": report.outcome == Outcome.SUCCESS, "report": report.to_dict()}


def _one_line(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SyncError) else f"AWS or runtime error: {describe_error(exc)}"


# --- EventBridge and direct invocation --------------------------------------------------------------------


def _organizations_event(event: Mapping[str, Any], context: Any, deps: Deps) -> dict[str, Any]:
    """An OU or account changed: converge. Through the pipeline when PIPELINE_NAME is set (the approved
    artifact, with its checks), else directly from ARTIFACT_URI (the last approved artifact in S3)."""
    name = event.get("detail", {}).get("eventName", event.get("detail-type", ""))
    if name not in ORG_EVENTS:
        return {"ok": True, "ignored": name}
    pipeline = deps.env.get("PIPELINE_NAME")
    if pipeline:
        execution = deps.codepipeline.start_pipeline_execution(name=pipeline)
        return {"ok": True, "pipeline_execution": execution.get("pipelineExecutionId"), "event": name}
    uri = deps.env.get("ARTIFACT_URI")
    if not uri:
        return {"ok": False, "error": "set PIPELINE_NAME or ARTIFACT_URI to act on Organizations events"}
    return _direct({"action": "sync", "artifact_uri": uri, "run_id": event.get("id")}, context, deps)


def _direct(event: Mapping[str, Any], context: Any, deps: Deps) -> dict[str, Any]:
    """{"action": "plan"|"sync", "artifact_uri": "s3://bucket/key.zip", "run_id"?, "continuation"?}"""
    uri = str(event.get("artifact_uri") or deps.env.get("ARTIFACT_URI") or "")
    if not uri.startswith("s3://"):
        raise SyncError("direct invocation needs artifact_uri: s3://bucket/key of the build artifact")
    bucket, _, key = uri[5:].partition("/")
    run_from_token, pending = decode_token(event.get("continuation"))
    run_id = str(event.get("run_id") or run_from_token or getattr(context, "aws_request_id", "direct"))
    manifest: Manifest | None = None
    try:
        manifest, templates = load_artifact(
            _read_s3(deps.s3(None), bucket, key), DEFAULT_MANIFEST, DEFAULT_TEMPLATES
        )
        apply = event.get("action") == "sync"
        report, still = _step(manifest, templates, run_id, pending, context, deps, apply=apply)
    except Exception as exc:
        error = _one_line(exc)
        if event.get("action") == "sync":
            notify.publish(deps.sns, _topic(manifest, deps), None, error, f"direct sync {run_id}")
        return {"ok": False, "error": error}
    if still:
        # Carry on in a fresh invocation: the operations run on while this one ends.
        token = encode_token(run_id, still)
        arn = getattr(context, "invoked_function_arn", None)
        if arn:
            payload = {"action": "sync", "artifact_uri": uri, "run_id": run_id, "continuation": token}
            deps.lambda_client.invoke(
                FunctionName=arn, InvocationType="Event", Payload=json.dumps(payload).encode()
            )
        return {"ok": True, "continuation": token}
    assert report is not None
    if event.get("action") == "sync":
        notify.publish(deps.sns, _topic(manifest, deps), report, context=f"direct sync {run_id}")
    return {"ok": report.ok, "report": report.to_dict()}
