"""The sync Lambda's inputs for tests: a CodePipeline job event, its S3 artifact and a Lambda context."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

BUCKET, KEY = "artifacts", "org/Build/artifact.zip"
# What a job's continuation token is bound to: the run's input artifact (pipeline.job._codepipeline).
BINDING = f"codepipeline:{BUCKET}/{KEY}"
# The org guardrails the pipeline stack sets for the sample organization (pipeline/core/guardrails.py), and
# the bucket the Plan action stores its plans in.
GUARDRAIL_ENV = {
    "GUARDRAIL_LOGIN_ACCOUNT_ID": "222222222222",
    "GUARDRAIL_TRUSTED_ACCOUNT_IDS": "444444444444",
    "GUARDRAIL_BREAK_GLASS_ROLES": "BreakGlass",
    "GUARDRAIL_MAX_SESSION_SECONDS": "43200",
    "PLAN_BUCKET": BUCKET,
}


def token_key(kms: Any) -> str:
    """A new HMAC KMS key like the pipeline template's TokenKey; its id, as TOKEN_KEY_ID holds it."""
    return str(kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"])


def world_deps(world: Any, **given: Any) -> Any:
    """The Lambda's Deps against a test World's moto server: the sync's clients, its S3 and KMS (a new HMAC
    key), no waiting, the sample org's guardrails; `given` sets or replaces any field (codepipeline, sns,
    ...; env is added to the guardrail settings)."""
    from pipeline.aws.clients import make_clients
    from pipeline.aws.retry import Backoff
    from pipeline.aws.tokens import KmsSigner
    from pipeline.job import Deps
    from tests.support.sync import NO_WAIT, session

    s3 = world.client("s3")
    kms = world.client("kms")
    fields: dict[str, Any] = {
        "env": {**GUARDRAIL_ENV, **given.pop("env", {})},
        "codepipeline": None,
        "sns": world.client("sns"),
        "sync_clients": lambda region: make_clients(
            region, endpoint_url=world.server.url, session=session(region), max_attempts=1
        ),
        "s3": lambda _creds: s3,
        "poll": NO_WAIT,
        "backoff": Backoff(sleep=lambda _s: None),
        "sleep": lambda _s: None,
        "signer": KmsSigner(kms, token_key(kms)),
    }
    return Deps(**{**fields, **given})


def artifact(manifest_dir: Path, *, without: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.write(manifest_dir / "manifest.json", "templates/org/manifest.json")
        for f in sorted((manifest_dir / "templates").rglob("*.yaml")):
            z.write(f, f"templates/{f.relative_to(manifest_dir / 'templates')}")
    data = buffer.getvalue()
    if without:
        source = zipfile.ZipFile(io.BytesIO(data))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for name in source.namelist():
                if name != without:
                    z.writestr(name, source.read(name))
        data = out.getvalue()
    return data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def job(
    continuation: str | None = None, *, approve: bytes | None = None, job_id: str = "job-1", **params: str
) -> dict[str, Any]:
    """A Lambda invoke job as CodePipeline sends it; `approve`: the artifact whose sha256 the approval carried
    (UserParameters approved_sha256); `params`: more UserParameters (mode, execution, ...)."""
    user = dict(params)
    if approve is not None:
        user["approved_sha256"] = sha256(approve)
    configuration: dict[str, Any] = {"FunctionName": "org-roles-sync"}
    if user:
        configuration["UserParameters"] = json.dumps(user, sort_keys=True)
    data: dict[str, Any] = {
        "actionConfiguration": {"configuration": configuration},
        "inputArtifacts": [
            {
                "name": "Build",
                "location": {"type": "S3", "s3Location": {"bucketName": BUCKET, "objectKey": KEY}},
            }
        ],
        "outputArtifacts": [],
        "artifactCredentials": {"accessKeyId": "testing", "secretAccessKey": "testing", "sessionToken": "t"},
    }
    if continuation:
        data["continuationToken"] = continuation
    return {"CodePipeline.job": {"id": job_id, "accountId": "111111111111", "data": data}}


class Ctx:
    aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:111111111111:function:org-roles-sync"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def planned(deps: Any, stub: Any, job_id: str = "plan-1") -> str:
    """Run the Plan action (time enough for its walk) through the Stubber `stub`; its ORG_WALK, which the
    Sync action's UserParameters carry (org_walk)."""
    from botocore.stub import ANY

    from pipeline.job import handle

    stub.add_response(
        "put_job_success_result", {}, {"jobId": job_id, "outputVariables": ANY, "executionDetails": ANY}
    )
    step, deps.step_seconds = deps.step_seconds, 600
    result = handle(job(job_id=job_id, mode="plan", execution="exec-1"), Ctx(), deps)
    deps.step_seconds = step
    return str(result["variables"]["ORG_WALK"])


def held(deps: Any, continuation: str) -> Any:
    """The RunState a continuation token names (unsealed, then read from the state store)."""
    from pipeline.core import tokens
    from pipeline.core.runstate import RunState

    token = tokens.unseal(continuation, BINDING, deps.signer)
    return RunState.from_dict(deps.state_store().get(token.run, token.state))
